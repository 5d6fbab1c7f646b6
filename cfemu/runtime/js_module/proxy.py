"""JavaScript values as Pyodide shows them to Python: the ``JsProxy`` family.

cfemu has no JavaScript engine; the objects ``js`` and ``pyodide.ffi`` hand to a Worker are
Python objects that behave, as far as Worker code can see, like Pyodide's proxies (spec:
python-runtime.md §3): attribute access (``obj.x``, ``obj.x = v``, ``hasattr`` as JS ``in``),
``typeof``, ``to_py()``, ``object_keys()``/``object_values()``/``object_entries()``,
``X.new(...)`` for constructors, ``str``/``repr`` as ``toString()``, and ``==`` as JS
``===`` (identity). A Python keyword is reached with a trailing underscore (``Array.from_``).

JavaScript ``undefined`` is Python ``None``; JavaScript ``null`` is :data:`jsnull`, as in
Pyodide 0.28 and later (the Python runtime of every compatibility date from 2025-09-29), and
``None`` for a Worker on Pyodide 0.26 (:func:`js_null`).
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from cfemu.runtime.js_module.containers import JsArray, JsMap

__all__ = [
    "ConversionError",
    "JsCallable",
    "JsDoubleProxy",
    "JsException",
    "JsNull",
    "JsObject",
    "JsProxy",
    "js_name",
    "js_null",
    "js_value",
    "jsnull",
    "to_py",
]


def js_name(name: str) -> str:
    """The JavaScript property a Python attribute name means (``from_`` -> ``from``)."""
    if name.endswith("_") and keyword.iskeyword(name[:-1]):
        return name[:-1]
    return name


class ConversionError(Exception):
    """A value could not be converted between Python and JavaScript (Pyodide's name)."""


class JsProxy:
    """Base of every JavaScript value cfemu hands to Python (Pyodide's ``JsProxy``)."""

    __slots__ = ()
    #: ``obj.constructor.name`` in JavaScript.
    js_class: ClassVar[str] = "Object"

    @property
    def typeof(self) -> str:
        """JavaScript's ``typeof`` of the value."""
        return "object"

    @property
    def js_id(self) -> int:
        """An identity number, equal for two proxies of the same JavaScript object."""
        return id(self)

    @property
    def constructor(self) -> JsObject:
        """The value's constructor (only ``.name`` is meaningful in cfemu)."""
        return JsObject(name=self.js_class)

    def _props(self) -> dict[str, Any]:
        return {}

    def to_py(self, *, depth: int = -1, default_converter: Callable[..., Any] | None = None) -> Any:
        """Convert to Python: Array -> list, Object -> dict, Map -> dict, Set -> set,
        buffers -> memoryview; other objects stay proxies (or go to ``default_converter``)."""
        if default_converter is not None:
            return default_converter(self, lambda v: to_py(v, depth - 1), lambda *_: None)
        return self

    def object_keys(self) -> JsArray:
        """``Object.keys(obj)``."""
        from cfemu.runtime.js_module.containers import JsArray

        return JsArray(list(self._props()))

    def object_values(self) -> JsArray:
        """``Object.values(obj)``."""
        from cfemu.runtime.js_module.containers import JsArray

        return JsArray(list(self._props().values()))

    def object_entries(self) -> JsArray:
        """``Object.entries(obj)``."""
        from cfemu.runtime.js_module.containers import JsArray

        return JsArray([JsArray([k, v]) for k, v in self._props().items()])

    def toString(self) -> str:
        """JavaScript's ``String(obj)``."""
        return f"[object {self.js_class}]"

    def new(self, *args: Any, **kwargs: Any) -> Any:
        """``new obj(...)``: only constructors can be called with ``new``."""
        raise JsException("TypeError", f"{self.js_class} is not a constructor")

    def __str__(self) -> str:
        return self.toString()

    def __repr__(self) -> str:
        return self.toString()

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


class JsNull(JsProxy):
    """The type of JavaScript ``null`` (:data:`jsnull`): falsy, ``repr`` is ``jsnull``."""

    __slots__ = ()
    _instance: ClassVar[JsNull | None] = None

    def __new__(cls) -> JsNull:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def toString(self) -> str:
        """``String(null)``."""
        return "null"

    def __repr__(self) -> str:
        return "jsnull"

    def __hash__(self) -> int:
        return 0


#: JavaScript ``null``.
jsnull = JsNull()


def js_null() -> Any:
    """JavaScript ``null`` as the running Worker receives it: ``jsnull``, or ``None`` on
    Pyodide 0.26 (``python_workers`` before compatibility date 2025-09-29)."""
    from cfemu.runtime._scope import current_compat

    return None if current_compat().js_null_is_none else jsnull


def js_value(value: Any) -> Any:
    """A stored JavaScript value as Python code reads it (``null`` per :func:`js_null`)."""
    return js_null() if value is jsnull else value


class JsObject(JsProxy):
    """A plain JavaScript object: properties by attribute (``obj.name``), not by ``[]``."""

    __slots__ = ("_p",)

    def __init__(self, props: dict[str, Any] | None = None, /, **kwargs: Any) -> None:
        object.__setattr__(self, "_p", {**(props or {}), **kwargs})

    def _props(self) -> dict[str, Any]:
        props: dict[str, Any] = object.__getattribute__(self, "_p")
        return props

    def __getattr__(self, name: str) -> Any:
        props = self._props()
        key = js_name(name)
        if key in props:
            return js_value(props[key])
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._props()[js_name(name)] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self._props()[js_name(name)]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:
        return sorted(set(self._props()) | set(dir(type(self))))

    def to_py(self, *, depth: int = -1, default_converter: Callable[..., Any] | None = None) -> Any:
        """The object as a ``dict`` (converted ``depth`` levels deep; -1: fully)."""
        if self.js_class != "Object":
            return super().to_py(depth=depth, default_converter=default_converter)
        return {k: to_py(v, depth - 1, default_converter) for k, v in self._props().items()}

    def as_object_map(self) -> JsMap:
        """A ``Mapping`` view of the object's own properties."""
        from cfemu.runtime.js_module.containers import JsMap

        return JsMap(self._props())

    def __getitem__(self, key: Any) -> Any:
        raise TypeError("'JsProxy' object is not subscriptable")


class JsCallable(JsProxy):
    """A JavaScript function: call it; ``new(...)`` when it is a constructor."""

    __slots__ = ("_construct", "_func", "_name")

    def __init__(
        self,
        func: Callable[..., Any],
        name: str | None = None,
        construct: Callable[..., Any] | None = None,
    ) -> None:
        self._func = func
        self._name = str(name or getattr(func, "__name__", ""))
        self._construct = construct

    @property
    def typeof(self) -> str:
        """``"function"``."""
        return "function"

    @property
    def name(self) -> str:
        """The function's name."""
        return self._name

    def toString(self) -> str:
        """``String(fn)``."""
        return f"function {self._name}() {{ [native code] }}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._func(*args, **kwargs)

    def new(self, *args: Any, **kwargs: Any) -> Any:
        """``new fn(...)``."""
        if self._construct is None:
            raise JsException("TypeError", f"{self._name} is not a constructor")
        return self._construct(*args, **kwargs)


class JsDoubleProxy(JsCallable):
    """What ``create_proxy`` returns: a persistent JavaScript handle on a Python object."""

    __slots__ = ("_destroyed", "_obj", "_once")

    def __init__(self, obj: Any, *, once: bool = False) -> None:
        super().__init__(obj if callable(obj) else _not_callable, getattr(obj, "__name__", ""))
        self._obj = obj
        self._once = once
        self._destroyed = False

    @property
    def typeof(self) -> str:
        """``"function"`` for a callable, else ``"object"``."""
        return "function" if callable(self._obj) else "object"

    def unwrap(self) -> Any:
        """The Python object behind the proxy."""
        self._check()
        return self._obj

    def destroy(self) -> None:
        """Release the proxy; using it afterwards raises."""
        self._check()
        self._destroyed = True

    def _check(self) -> None:
        if self._destroyed:
            raise JsException(
                "Error",
                "This borrowed proxy was automatically destroyed at the end of a function call.",
            )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._once:
            if self._destroyed:
                raise JsException("Error", "OnceProxy can only be called once")
            self._destroyed = True
            return self._obj(*args, **kwargs)
        self._check()
        return self._obj(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        self._check()
        return getattr(self._obj, name)


def _not_callable(*args: Any, **kwargs: Any) -> Any:
    raise JsException("TypeError", "proxy is not a function")


class JsException(JsProxy, Exception):
    """A JavaScript error raised into Python: ``.name``, ``.message``, ``.stack``;
    ``str()`` is ``"<name>: <message>"``."""

    __slots__ = ("message", "name")
    js_class = "Error"

    def __init__(self, name: str = "Error", message: str = "") -> None:
        Exception.__init__(self, f"{name}: {message}")
        self.name = name
        self.message = message

    @property
    def stack(self) -> str:
        """The error's stack (only its first line in cfemu)."""
        return f"{self.name}: {self.message}"

    def toString(self) -> str:
        """``String(error)``."""
        return f"{self.name}: {self.message}"

    def __str__(self) -> str:
        return self.toString()

    def __repr__(self) -> str:
        return f"JsException({self.toString()!r})"

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = JsProxy.__hash__


def to_py(value: Any, depth: int = -1, default_converter: Callable[..., Any] | None = None) -> Any:
    """``value.to_py()`` for a proxy (``depth`` levels deep), ``value`` itself otherwise."""
    if value is jsnull:
        return js_null()
    if depth == 0 or not isinstance(value, JsProxy) or isinstance(value, JsException):
        return value
    return value.to_py(depth=depth, default_converter=default_converter)
