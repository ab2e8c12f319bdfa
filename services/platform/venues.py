"""The venue registry: every venue this process can trade, found by its slug.

A venue is one package (`arbiter.venues.<slug>`, or any distribution's) that exposes one
plugin object and declares it in the `arbiter.venues` entry-point group. Nothing else in
the system names a venue: configuration validates each venue's section and market legs with
the models its plugin declares, and the composition root asks the plugin for its gateway,
emulator, credentials and checks. A plugin that is not installed can still be registered
at run time (`VENUES.register`), which is how a venue that lives in a test tree plugs in.

This module sits low (configuration needs it) and so knows only the part of a plugin that
configuration reads; `arbiter.venues.plugin.VenuePlugin` is the whole contract.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import ClassVar, Protocol

from pydantic import BaseModel

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "arbiter.venues"
SLUG = re.compile(r"^[a-z][a-z0-9]{1,30}$")
"""A venue slug: lower case letters and digits, because it names services (`gateway-<slug>`),
Kubernetes objects, metric labels and bus keys."""


class UnknownVenue(ValueError):
    """A venue slug no plugin is registered under; the message lists the known ones."""


class VenueSchema(Protocol):
    """What configuration needs from a venue plugin: its slug and the models of its
    `venues.<slug>` section and of a pair leg on it."""

    slug: ClassVar[str]
    settings_model: ClassVar[type[BaseModel]]
    market_model: ClassVar[type[BaseModel]]


class VenueRegistry:
    """Plugins by slug. Installed plugins are loaded on first use, once; `register` adds
    one at run time (and `unregister` takes it away again, for tests)."""

    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self._group = group
        self._plugins: dict[str, VenueSchema] = {}
        self._loaded = False
        self._loading = False
        self._lock = threading.RLock()

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            if self._loading:
                raise RuntimeError("a venue plugin used the venue registry while being loaded "
                                   "(it must not validate configuration at import time)")
            self._loading = True
            for point in sorted(entry_points(group=self._group), key=lambda p: p.name):
                plugin = point.load()
                if getattr(plugin, "slug", None) != point.name:
                    raise RuntimeError(f"entry point {point.name!r} of group {self._group!r} "
                                       f"loads a plugin with slug {getattr(plugin, 'slug', None)!r}")
                self._add(plugin, replace=False)
            self._loaded, self._loading = True, False

    def _add(self, plugin: VenueSchema, *, replace: bool) -> None:
        slug = getattr(plugin, "slug", None)
        if not isinstance(slug, str) or not SLUG.match(slug):
            raise ValueError(f"venue slug {slug!r} must match {SLUG.pattern}")
        if slug in self._plugins and not replace:
            raise ValueError(f"venue {slug!r} is already registered")
        self._plugins[slug] = plugin

    def register(self, plugin: VenueSchema, *, replace: bool = False) -> None:
        """Add a plugin that is not installed as an entry point."""
        self._ensure_loaded()
        with self._lock:
            self._add(plugin, replace=replace)
        log.info("venue %s registered", plugin.slug)

    def unregister(self, slug: str) -> None:
        self._ensure_loaded()
        with self._lock:
            self._plugins.pop(slug, None)

    def get(self, slug: str) -> VenueSchema:
        """The plugin registered as `slug`; `UnknownVenue` names the registered ones."""
        self._ensure_loaded()
        try:
            return self._plugins[slug]
        except (KeyError, TypeError):
            raise UnknownVenue(f"unknown venue {slug!r}; registered: "
                               f"{', '.join(self.slugs()) or 'none'}") from None

    def slugs(self) -> tuple[str, ...]:
        self._ensure_loaded()
        return tuple(sorted(self._plugins))

    def __contains__(self, slug: object) -> bool:
        self._ensure_loaded()
        return slug in self._plugins

    def __iter__(self) -> Iterator[VenueSchema]:
        self._ensure_loaded()
        return iter([self._plugins[slug] for slug in sorted(self._plugins)])


VENUES = VenueRegistry()
"""The process-wide registry."""
