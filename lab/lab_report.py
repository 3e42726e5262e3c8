"""The lab scripts' last step: show the report and keep it where ``--out`` says."""

import sys
from typing import Optional


def write_report(text: str, out: str, show: bool = True) -> None:
    """
    Print ``text`` (unless ``show`` is False) and write it to the file ``out``, unless ``out`` is ``-``.

    :param text: The report
    :param out: Its file, or ``-`` for none
    :param show: Whether to print it
    """
    if show:
        print(text)
    if out != "-":
        with open(out, "w") as file:
            file.write(text)


def made_by(script: str, argv: Optional[list[str]]) -> str:
    """The command a report's header names: ``python <script>`` and its arguments (``argv``, or the command line's)."""
    return " ".join([f"python {script}"] + (argv if argv is not None else sys.argv[1:]))


def finish_report(lines: list[str], out: str) -> str:
    """Write the report of ``lines`` (printed row by row as they came) to ``out``; its text."""
    text = "\n".join(lines) + "\n"
    write_report(text, out, show=False)
    return text
