"""What differs between the machines two traces were recorded on, as far as kernels care.

Never imports TensorFlow: reads the ``cpu`` and ``kernels`` environment entries.
"""

from __future__ import annotations

from typing import Any, Mapping


def machine_notes(env_a: Mapping[str, Any], env_b: Mapping[str, Any]) -> list[str]:
    """What differs between the two machines' kernels: CPU instruction sets, oneDNN,
    threads (each picks other kernels, which round differently in the last bits)."""
    notes = []
    cpu_a, cpu_b = env_a.get("cpu"), env_b.get("cpu")
    if isinstance(cpu_a, Mapping) and isinstance(cpu_b, Mapping):
        flags_a, flags_b = cpu_a.get("flags"), cpu_b.get("flags")
        if isinstance(flags_a, list) and isinstance(flags_b, list) and flags_a != flags_b:
            only_a = sorted(set(map(str, flags_a)) - set(map(str, flags_b)))
            only_b = sorted(set(map(str, flags_b)) - set(map(str, flags_a)))
            notes.append(f"A and B ran on CPUs with different instruction sets (only A: "
                         f"{', '.join(only_a) or '-'}; only B: {', '.join(only_b) or '-'}): "
                         f"TensorFlow picks other kernels, which round differently")
        elif cpu_a.get("model") != cpu_b.get("model"):
            notes.append(f"A and B ran on different CPU models ({cpu_a.get('model')} vs "
                         f"{cpu_b.get('model')})")
    kernels_a, kernels_b = env_a.get("kernels"), env_b.get("kernels")
    if isinstance(kernels_a, Mapping) and isinstance(kernels_b, Mapping):
        for key, label in (("onednn", "oneDNN optimizations"), ("intra_op_threads", "intra-op threads"),
                           ("inter_op_threads", "inter-op threads"), ("op_determinism", "op determinism")):
            if kernels_a.get(key) != kernels_b.get(key):
                notes.append(f"{label} differ: A {kernels_a.get(key)}, B {kernels_b.get(key)}")
    return notes
