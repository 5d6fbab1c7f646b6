"""JavaScript's ``FormData`` as ``js`` shows it (what ``js.Request.formData()`` resolves to),
over cfemu's Python :class:`~cfemu.runtime.body.FormData`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cfemu.runtime.body import FormData
from cfemu.runtime.js_module.containers import JsArray
from cfemu.runtime.js_module.proxy import JsProxy, js_null

__all__ = ["JsFormData"]


class JsFormData(JsProxy):
    """``get`` (``null`` when absent), ``getAll``, ``has``, ``set``, ``append``, ``delete``;
    ``entries()``/iteration give ``[name, value]`` arrays, so ``Object.fromEntries(form.entries())``
    works; ``js.Response.new(form)`` and ``workers.Response(form)`` send it as multipart."""

    __slots__ = ("_form",)
    js_class = "FormData"
    __cfemu_body__ = True  # a Response/Request body (cfemu.runtime.http)

    def __init__(self, form: FormData | None = None) -> None:
        self._form = form if form is not None else FormData()

    @classmethod
    def new(cls) -> JsFormData:
        """``new FormData()``."""
        return cls()

    @property
    def js_object(self) -> FormData:
        """The Python ``FormData`` behind it."""
        return self._form

    def get(self, name: str) -> Any:
        """The first value of ``name``, or ``null``."""
        values = self._form.get_all(name)
        return values[0] if values else js_null()

    def getAll(self, name: str) -> JsArray:
        """Every value of ``name``."""
        return JsArray(self._form.get_all(name))

    def has(self, name: str) -> bool:
        """Whether ``name`` has a value."""
        return self._form.has(name)

    def set(self, name: str, value: Any) -> None:
        """Replace the values of ``name``."""
        self._form[name] = value

    def append(self, name: str, value: Any, filename: str | None = None) -> None:
        """Add a value."""
        self._form.append(name, value, filename)

    def delete(self, name: str) -> None:
        """Remove ``name``."""
        self._form.delete(name)

    def entries(self) -> Iterator[JsArray]:
        """``[name, value]`` arrays, in order."""
        return iter([JsArray(pair) for pair in self._form.items()])

    def keys(self) -> Iterator[str]:
        """The names, in order (repeated names repeat)."""
        return iter([k for k, _ in self._form.items()])

    def values(self) -> Iterator[Any]:
        """The values, in order."""
        return iter([v for _, v in self._form.items()])

    def __iter__(self) -> Iterator[JsArray]:
        return self.entries()
