"""The lab scripts' last step: show the report and keep it where ``--out`` says."""


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
