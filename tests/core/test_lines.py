import pytest

from bhb_viewer.core import grid
from bhb_viewer.core.science.lines import LINES, line, lines_between


def test_balmer_and_calcium_are_vacuum_values():
    assert line("Hα").wavelength == 6564.61
    assert line("Hδ").wavelength == 4102.89
    assert line("Hγ").wavelength == 4341.69
    assert line("Ca II K").wavelength == 3934.78
    assert line("Ca II H").wavelength == 3969.59
    assert line("Mg II 4481").wavelength == 4482.60


def test_names_unique_and_list_sorted_by_species_block():
    names = [item.name for item in LINES]
    assert len(names) == len(set(names))
    hydrogen = [item.wavelength for item in LINES if item.species == "H"]
    assert hydrogen == sorted(hydrogen, reverse=True)  # Hα first, down the series


def test_unknown_line_names_the_known_ones():
    with pytest.raises(KeyError, match="Hδ"):
        line("Hzeta")


def test_lines_on_the_model_grid():
    wl = grid.wavelength()
    inside = lines_between(wl[0], wl[-1])
    names = {item.name for item in inside}
    assert {"Hα", "Hβ", "Hγ", "Hδ", "Mg II 4481"} <= names
    assert not names & {"Hε", "H8", "Ca II K", "Ca II H"}  # below 4000 Å
