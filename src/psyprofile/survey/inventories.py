"""Public-domain Big-Five inventories from the International Personality Item Pool (IPIP).

Three inventories ship as JSON files in ``psyprofile/survey/data/``:

``ipip50``
    Goldberg's (1992) Big-Five factor markers, 50 items, 10 per factor, in the order of the
    IPIP site's sample questionnaire. Factor IV (Emotional Stability) is keyed so that the
    trait is ``neuroticism``; factor V (Intellect/Imagination) is named ``openness``.
``mini-ipip``
    Donnellan, Oswald, Baird & Lucas (2006), 20 items (4 per trait) taken from the IPIP-50.
``ipipneo120``
    Johnson (2014), 120 items, 24 per domain and 4 per facet (``Item.facet``).

Every item has ``key`` +1 (agreeing means more of the trait) or -1 (reverse keyed: scored as
``min + max - response``). Responses use the IPIP 1..5 accuracy scale
(1 = very inaccurate ... 5 = very accurate). Item texts are first-person sentences
("I am the life of the party."), the form in which IPIP items are usually administered.

Item ids are ``<inventory>_<n>`` with ``n`` the 1-based position in the published order
(``ipip50_1`` .. ``ipip50_50``); survey response files name their columns that way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from psyprofile.errors import PsyprofileError

INVENTORIES = ("ipip50", "ipipneo120", "mini-ipip")
TRAITS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")


@dataclass(frozen=True)
class Item:
    """One questionnaire item: ``key`` is +1 or -1 (reverse keyed); ``facet`` only for IPIP-NEO."""

    id: str
    text: str
    trait: str
    key: int
    facet: str | None = None


@dataclass(frozen=True)
class Inventory:
    """An inventory: its items in published order, response scale and citation."""

    name: str
    title: str
    citation: str
    items: list[Item]
    scale_min: int
    scale_max: int
    scale_labels: list[str]
    notes: str = ""

    @property
    def traits(self) -> list[str]:
        """Traits in the fixed order openness .. neuroticism (those the inventory measures)."""
        have = {i.trait for i in self.items}
        return [t for t in TRAITS if t in have]

    def items_of(self, trait: str) -> list[Item]:
        """The items of ``trait`` in published order."""
        return [i for i in self.items if i.trait == trait]

    def reverse(self, response: float) -> float:
        """The reverse-keyed value of a response on this inventory's scale."""
        return self.scale_min + self.scale_max - response


@cache
def load_inventory(name: str) -> Inventory:
    """The inventory ``name`` (one of :data:`INVENTORIES`), read from the package data."""
    if name not in INVENTORIES:
        raise PsyprofileError(
            f"unknown inventory '{name}'. Available: {', '.join(INVENTORIES)}."
        )
    text = resources.files("psyprofile.survey").joinpath("data", f"{name}.json").read_text("utf-8")
    doc = json.loads(text)
    items = [
        Item(id=i["id"], text=i["text"], trait=i["trait"], key=int(i["key"]), facet=i.get("facet"))
        for i in doc["items"]
    ]
    scale = doc["scale"]
    return Inventory(
        name=doc["name"],
        title=doc["title"],
        citation=doc["citation"],
        items=items,
        scale_min=int(scale["min"]),
        scale_max=int(scale["max"]),
        scale_labels=list(scale["labels"]),
        notes=doc.get("notes", ""),
    )
