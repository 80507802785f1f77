"""Variables created while a ``tf.function`` is first traced.

Inside a trace, ``tf.function`` creates variables itself (an
``UnliftedInitializerVariable``, from its own variable creator scope) without reaching
TensorFlow's default creators: Keras 3 ``fit`` building a model lazily, optimizer slots
made in the first ``apply_gradients``, a ``track_tf1_style_variables`` layer first
called in a function, ``tf.Variable`` in a function body. After the trace it *lifts*
their initializers into a function of their own, runs it once, and only then runs the
traced function.

So two hooks see such a variable exactly: its constructor (the variable exists, its
initializer's random draws are being traced: :meth:`VariableCapture.creation`), and the
end of the lifted initialization (it holds its initial value, before any update of the
function's first execution: :meth:`VariableCapture.after_lifted_initialization`, which
also gives it run A's value under replay). When TensorFlow cannot lift an initializer
(it depends on the function's inputs), it initializes the variable inside the first
execution; the value tftrace reads then comes after that execution, and says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from tensorflow.python.eager import context
from tensorflow.python.eager.polymorphic_function import polymorphic_function
from tensorflow.python.framework import ops
from tensorflow.python.ops import op_selector

if TYPE_CHECKING:
    from tftrace.recording.variables import VariableCapture

_VARIABLE = polymorphic_function.UnliftedInitializerVariable
_FUNCTION = polymorphic_function.Function


class LiftedVariables:
    """Patches ``UnliftedInitializerVariable.__init__`` and
    ``Function._initialize_uninitialized_variables`` while installed."""

    def __init__(self, capture: VariableCapture) -> None:
        self._capture = capture
        self._originals: list[tuple[type, str, Callable[..., Any]]] = []

    def install(self) -> None:
        capture = self._capture
        init = _VARIABLE.__init__
        initialize = _FUNCTION._initialize_uninitialized_variables

        def __init__(variable: Any, *args: Any, **kwargs: Any) -> None:
            # Executing eagerly (init_scope'd out of the function, or tf-keras building
            # a layer in a scratch graph) it is initialized at once, as an eager variable.
            lifted = ops.inside_function() and not context.executing_eagerly()
            with capture.creation(lifted=lifted) as creation:
                init(variable, *args, **kwargs)
                creation.variable = variable

        def _initialize_uninitialized_variables(function: Any, initializers: Any) -> Any:
            lifted = [v for v, _ in initializers or ()]
            try:
                result = initialize(function, initializers)
            except op_selector.UnliftableError:
                capture.unliftable(lifted)
                raise
            capture.after_lifted_initialization(lifted)
            return result

        for cls, name, replacement in ((_VARIABLE, "__init__", __init__),
                                       (_FUNCTION, "_initialize_uninitialized_variables",
                                        _initialize_uninitialized_variables)):
            original = vars(cls)[name]
            setattr(replacement, "__wrapped__", original)
            self._originals.append((cls, name, original))
            setattr(cls, name, replacement)

    def uninstall(self) -> None:
        for cls, name, original in reversed(self._originals):
            setattr(cls, name, original)
        self._originals.clear()
