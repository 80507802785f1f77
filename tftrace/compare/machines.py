"""What differs between the machines two traces were recorded on, as far as kernels care.

Never imports TensorFlow: reads the ``cpu`` and ``kernels`` environment entries.
"""

from __future__ import annotations

from typing import Any, Mapping

from tftrace.compare.result import Note

#: The kernel settings compared, in the order the notes list them.
KERNEL_SETTINGS = ("onednn", "intra_op_threads", "inter_op_threads", "op_determinism")


def machine_notes(env_a: Mapping[str, Any], env_b: Mapping[str, Any]) -> list[Note]:
    """What differs between the two machines' kernels: CPU instruction sets, oneDNN,
    threads (each picks other kernels, which round differently in the last bits)."""
    notes = []
    cpu_a, cpu_b = env_a.get("cpu"), env_b.get("cpu")
    if isinstance(cpu_a, Mapping) and isinstance(cpu_b, Mapping):
        flags_a, flags_b = cpu_a.get("flags"), cpu_b.get("flags")
        if isinstance(flags_a, list) and isinstance(flags_b, list) and flags_a != flags_b:
            only_a = sorted(set(map(str, flags_a)) - set(map(str, flags_b)))
            only_b = sorted(set(map(str, flags_b)) - set(map(str, flags_a)))
            notes.append(Note("cpu-flags", {"only_a": only_a, "only_b": only_b}))
        elif cpu_a.get("model") != cpu_b.get("model"):
            notes.append(Note("cpu-model", {"a": cpu_a.get("model"), "b": cpu_b.get("model")}))
    kernels_a, kernels_b = env_a.get("kernels"), env_b.get("kernels")
    if isinstance(kernels_a, Mapping) and isinstance(kernels_b, Mapping):
        for key in KERNEL_SETTINGS:
            if kernels_a.get(key) != kernels_b.get(key):
                notes.append(Note("kernel-setting", {"setting": key, "a": kernels_a.get(key),
                                                     "b": kernels_b.get(key)}))
    return notes
