"""Automatic capture: layer outputs, op outputs, gradients and optimizer hyperparameters.

Each engine talks to the recording through the sink in ``sink.py``; ``engines.py`` holds
them together for one recording.
"""
