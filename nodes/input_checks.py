"""Every node checks the values it runs with against its own schema, the same on every
host: ComfyUI 0.3.75 does not check V3 combo values at all, no ComfyUI refuses NaN or
infinity (JSON `NaN` passes min/max), and ComfyUI skips its own checks for any input a
node's `validate_inputs` names. So the schema is the one place the rules live, and
`checked_inputs` applies them when the node runs."""
from __future__ import annotations

import functools
import inspect
import math

from comfy_api.latest import io


class InputError(ValueError):
    """A value the node's schema does not allow; the message names the input."""


def _label(spec) -> str:
    return f"'{spec.id}'"


def check_value(spec, value) -> None:
    """Raise InputError unless `value` fits the widget input `spec` (Int, Float, Boolean,
    String or Combo). Linked sockets of other types are not widgets and are not checked."""
    kind = getattr(spec, "io_type", None)
    if value is None:
        if getattr(spec, "optional", False):
            return
        raise InputError(f"{_label(spec)} is required but got no value")
    if kind == io.Int.io_type:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{_label(spec)} must be a whole number; got {value!r}")
        _check_range(spec, value)
        step = getattr(spec, "step", None)
        base = spec.min if getattr(spec, "min", None) is not None else 0
        if step and step > 1 and (value - base) % step:
            expected = f"a multiple of {step}" if base % step == 0 else \
                f"{base} plus a multiple of {step}"
            raise InputError(f"{_label(spec)} must be {expected}; got {value}")
    elif kind == io.Float.io_type:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{_label(spec)} must be a number; got {value!r}")
        if not math.isfinite(value):
            raise InputError(f"{_label(spec)} must be a finite number; got {value!r}")
        _check_range(spec, value)
    elif kind == io.Boolean.io_type:
        if not isinstance(value, bool):
            raise InputError(f"{_label(spec)} must be true or false; got {value!r}")
    elif kind == io.String.io_type:
        if not isinstance(value, str):
            raise InputError(f"{_label(spec)} must be text; got {type(value).__name__}")
    elif kind == io.Combo.io_type and not getattr(spec, "model_folder", None):
        # Model-file combos are resolved by name inside their folders, with their own
        # message; every other combo must hold one of its options.
        options = list(getattr(spec, "options", None) or [])
        if value not in options:
            shown = ", ".join(repr(o) for o in options[:20]) + (", ..." if len(options) > 20 else "")
            raise InputError(f"{_label(spec)}: {value!r} is not one of the options ({shown})")


def _check_range(spec, value) -> None:
    low, high = getattr(spec, "min", None), getattr(spec, "max", None)
    if low is not None and value < low:
        raise InputError(f"{_label(spec)} must be at least {low}; got {value}")
    if high is not None and value > high:
        raise InputError(f"{_label(spec)} must be at most {high}; got {value}")


_SCHEMAS: dict[type, tuple[str, dict]] = {}


def _schema(node_cls) -> tuple[str, dict]:
    """(display name, inputs by id), built once per node class. ComfyUI may run a
    subclass clone; the class that defines the schema is the key. Model-file lists may
    go stale here; those combos are not checked against their options."""
    owner = next(c for c in node_cls.__mro__ if "define_schema" in vars(c))
    if owner not in _SCHEMAS:
        schema = owner.define_schema()
        _SCHEMAS[owner] = (schema.display_name or schema.node_id,
                           {spec.id: spec for spec in schema.inputs})
    return _SCHEMAS[owner]


def check_inputs(node_cls, values: dict) -> None:
    """Check every widget value the node was given; one message lists every problem."""
    node, specs = _schema(node_cls)
    problems = []
    for name, value in values.items():
        spec = specs.get(name)
        if spec is None:
            continue
        try:
            check_value(spec, value)
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
