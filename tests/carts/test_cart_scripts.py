"""The cart scripts' reply protocol: every outcome a script can answer is an `Outcome`, and
the scripts read the catalogue only through inventory's Lua functions."""

from __future__ import annotations

import re

from carts import scripts
from carts.scripts import Outcome
from inventory.stock_cache import CATALOGUE_KEY_PREFIX, CATALOGUE_LUA, CATALOGUE_PRODUCT_SUFFIX

SCRIPTS = [scripts.READ, scripts.WRITE_LINE, scripts.DELETE, scripts.CLAIM]


def test_every_outcome_a_script_answers_is_an_outcome() -> None:
    # given the first values of the table literals of the scripts (their replies)
    answered = {outcome for script in SCRIPTS for outcome in re.findall(r"\{'(\w+)'", script)}

    # then each is a member of the enum, and each member is answered somewhere
    assert answered == {outcome.value for outcome in Outcome}


def test_the_catalogue_layout_is_inventorys_alone() -> None:
    # given the cart scripts without inventory's catalogue functions
    own = [script.replace(CATALOGUE_LUA, "") for script in SCRIPTS]

    # then none of them names the catalogue's keys or reads its entries itself
    for script in own:
        assert CATALOGUE_KEY_PREFIX not in script
        assert CATALOGUE_PRODUCT_SUFFIX not in script
        assert "cjson" not in script
