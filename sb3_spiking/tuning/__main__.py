"""``python -m sb3_spiking.tuning``: the standalone tuner (see :mod:`sb3_spiking.tuning.tuner`)."""

from sb3_spiking.tuning.tuner import main

if __name__ == "__main__":
    main()
