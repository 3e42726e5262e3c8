"""
The small systems the project grew from, built on the package: a standalone spiking classifier
(:mod:`~sb3_spiking.demos.classifier`), a grid world registered with gymnasium
(:mod:`~sb3_spiking.demos.gridworld`) and the CartPole training command (:mod:`~sb3_spiking.demos.train`).
"""
