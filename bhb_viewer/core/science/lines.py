"""Spectral lines a reviewer looks for in an A/BHB star spectrum, as vacuum wavelengths.

SDSS spectra are on a vacuum wavelength scale, so markers must use vacuum values too (air
values sit 1–2 Å shorter, enough to misplace a marker by a pixel or two at R ≈ 2000).
Hydrogen, Ca II K/H and Mg II 4481 are from SKY_FACTS.md; the others are the standard air
values converted to vacuum (Ciddor-type refractive index of standard air).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    """One marker: ``name`` as printed on the plot, ``wavelength`` in vacuum Å, ``species`` for grouping."""

    name: str
    wavelength: float
    species: str


LINES: tuple[Line, ...] = (
    Line("Hα", 6564.61, "H"),
    Line("Hβ", 4862.68, "H"),
    Line("Hγ", 4341.69, "H"),
    Line("Hδ", 4102.89, "H"),
    Line("Hε", 3971.20, "H"),
    Line("H8", 3890.17, "H"),
    Line("H9", 3836.48, "H"),
    Line("Ca II K", 3934.78, "Ca II"),
    Line("Ca II H", 3969.59, "Ca II"),
    Line("Ca I 4227", 4227.92, "Ca I"),
    Line("He I 4472", 4472.73, "He I"),
    Line("Mg II 4481", 4482.60, "Mg II"),
    Line("Mg b", 5174.12, "Mg I"),
    Line("Na D", 5894.57, "Na I"),
    Line("Ca II 8500", 8500.36, "Ca II"),
    Line("Ca II 8544", 8544.44, "Ca II"),
    Line("Ca II 8665", 8664.52, "Ca II"),
)


def line(name: str) -> Line:
    """The line called ``name`` (e.g. ``"Hδ"``); KeyError names the known lines otherwise."""
    for item in LINES:
        if item.name == name:
            return item
    raise KeyError(f"unknown line {name!r}; known: {', '.join(i.name for i in LINES)}")


def lines_between(lo: float, hi: float) -> tuple[Line, ...]:
    """Lines with ``lo <= wavelength <= hi`` (Å), in the order of ``LINES``."""
    return tuple(item for item in LINES if lo <= item.wavelength <= hi)
