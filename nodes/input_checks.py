"""The checks ComfyUI does not make, applied to a node's values when it runs.

Both hosts convert widget values to their type and check min and max. Neither refuses
NaN (it passes every comparison) or a value off its step, and ComfyUI 0.3.75 does not
check V3 combo values. So a node decorated with `checked_inputs` refuses those three,
naming the input. Model-file combos are resolved by name when the node runs instead.
"""
from __future__ import annotations

import functools
import inspect
import math

from comfy_api.latest import io

from ..newbie.errors import NewBieError
from .common import ModelFileCombo


class InputError(NewBieError, ValueError):
    """A value the node's schema does not allow; the message names the input."""


def check_value(spec, value) -> None:
    """Raise InputError if `value` is NaN or infinite (Float), off its step (Int), or not
    one of the options (Combo)."""
    kind = getattr(spec, "io_type", None)
    if value is None:
        return  # an optional input left out, or a host that refused it already
    if kind == io.Float.io_type and isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"'{spec.id}' must be a finite number; got {value!r}")
    if kind == io.Int.io_type and isinstance(value, int) and (spec.step or 1) > 1:
        base = spec.min if spec.min is not None else 0
        if (value - base) % spec.step:
            expected = f"a multiple of {spec.step}" if base % spec.step == 0 else \
                f"{base} plus a multiple of {spec.step}"
            raise InputError(f"'{spec.id}' must be {expected}; got {value}")
    if kind == io.Combo.io_type and not isinstance(spec, ModelFileCombo):
        options = list(spec.options or [])
        if value not in options:
            shown = ", ".join(repr(o) for o in options[:20]) + (", ..." if len(options) > 20 else "")
            raise InputError(f"'{spec.id}': {value!r} is not one of the options ({shown})")


@functools.cache
def _schema(owner) -> tuple[str, dict]:
    """(display name, inputs by id) of the class that defines the schema, built once."""
    schema = owner.define_schema()
    return schema.display_name or schema.node_id, {spec.id: spec for spec in schema.inputs}


def check_inputs(node_cls, values: dict) -> None:
    """Check every widget value the node was given; one message lists every problem."""
    # ComfyUI may run a subclass clone; the class that defines the schema is the key.
    owner = next(c for c in node_cls.__mro__ if "define_schema" in vars(c))
    node, specs = _schema(owner)
    problems = []
    for name, value in values.items():
        if name in specs:
            try:
                check_value(specs[name], value)
            except InputError as err:
                problems.append(str(err))
    if problems:
        raise InputError(f"{node}: " + "; ".join(problems))


def checked_inputs(execute):
    """Decorator for a node's `execute`: its values are checked against the schema first."""
    signature = inspect.signature(execute)

    @functools.wraps(execute)
    def run(cls, *args, **kwargs):
        bound = signature.bind(cls, *args, **kwargs)
        values = {k: v for k, v in bound.arguments.items() if k != "cls"}
        values.update(values.pop(next((p.name for p in signature.parameters.values()
                                       if p.kind is p.VAR_KEYWORD), ""), {}))
        check_inputs(cls, values)
        return execute(cls, *args, **kwargs)
    return run
