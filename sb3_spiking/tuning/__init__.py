"""
Tuning the spiking knobs with Optuna: the search space (:mod:`~sb3_spiking.tuning.space`), the glue that gives
rl-zoo3's ``-optimize`` the spiking knobs (:mod:`~sb3_spiking.tuning.zoo`) and a standalone tuner
(:mod:`~sb3_spiking.tuning.tuner`, ``python -m sb3_spiking.tuning``).
"""
