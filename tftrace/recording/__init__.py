"""Recording TensorFlow runs (imports TensorFlow): one module per capture mechanism.

``recorder`` holds the event model; ``seeds``, ``random_ops``, ``variables``,
``calls`` and ``values`` capture in eager and tf.function code; ``session`` is the
TF1 adapter; ``imports`` patches modules imported after recording started.
"""
