"""The network a plan moves stock through: warehouses, lanes, laterals, distributors, SKUs.

Read from YAML or JSON (`load_network`) or a dict (`Network.model_validate`). Validation names the
item at fault: duplicate ids, a lane to nowhere, a lane cycle, a distributor served by a
regional or forward warehouse outside its territory.

Shape of the document::

    capacity_unit: units            # or "volume": capacities count sku.unit_volume per unit
    warehouses:  [{id, kind: central|regional|forward, region, capacity}]
    lanes:       [{origin, destination, cost_per_unit, lead_time_days, capacity?}]   # a DAG
    laterals:    [{between: [A, B], cost_per_unit, lead_time_days, capacity?}]     # both ways
    distributors: [{id, region, tier, credit, guaranteed_amount?, served_by: [..], moq?,
                    pack_size?, lead_time_days?, cost_per_unit?}]
    skus:        [{id, unit_volume?, unit_cost?, hot?, abc?}]   # no hot given: abc A is hot

Lanes carry stock down the supply chain (central -> regional -> forward), stay in their region
below the central warehouse and must not form a cycle; lateral links move stock between two
warehouses in either direction (within a region freely, across regions only as the policy
allows). Distributors are supplied by the warehouses in `served_by`, which must lie in the
distributor's own territory (region protection) or be central (a central warehouse serves every
territory, as its lanes reach every region).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from allocation.errors import AllocationInputError

__all__ = [
    "TIERS",
    "Credit",
    "Distributor",
    "Lane",
    "Lateral",
    "Network",
    "RepeatedKeyError",
    "Sku",
    "Tier",
    "Warehouse",
    "WarehouseKind",
    "check_id",
    "json_with_unique_keys",
    "load_document",
    "load_network",
]

WarehouseKind = Literal["central", "regional", "forward"]
Tier = Literal["strategic", "growth", "observation"]
Credit = Literal["green", "yellow", "red"]
TIERS: tuple[Tier, ...] = ("strategic", "growth", "observation")
_KIND_RANK = {"central": 0, "regional": 1, "forward": 2}
# Upper bounds far above any real network, low enough that every date and product the plan forms
# stays finite (a lead time of 1e30 days overflowed the plan's dates, a unit cost of 1e308 made
# the objective infinite).
MAX_DAYS = 3660  # ten years
MAX_UNIT_MONEY = 1e9  # money per unit
MAX_AMOUNT = 1e15  # units, volume or money in total (a capacity, a credit line)


# Ids of SKUs, warehouses, distributors and regions: letters (any script: 华东仓), digits and
# _ . : - |, at most 64: what the service's paths, queries and tables take. A SKU id has no '|':
# forecasts key a series "sku|location".
ID_PATTERN = r"^[\w.:\-|]+$"
MAX_ID_LENGTH = 64
_ID_MARKS = "_.:-|\u200c\u200d"  # and the joiners Persian or Devanagari words need


def _is_id_text(value: str) -> bool:
    """ID_PATTERN as the service's (Rust) regex engine reads it, whose word class takes the
    combining marks of scripts such as Devanagari or Thai (गोदाम) that Python's `re` leaves
    out: the query filters took those ids while the network refused them."""
    return bool(value) and all(
        char in _ID_MARKS or _is_word_category(unicodedata.category(char)) for char in value
    )


def _is_word_category(category: str) -> bool:
    """Letters, marks, decimal and letter numbers, connectors: the Rust engine's word class."""
    return category[0] in "LM" or category in ("Nd", "Nl", "Pc")


def check_id(value: str) -> str:
    """`value` when it is an id (ID_PATTERN, at most MAX_ID_LENGTH), else a ValueError saying
    what an id is."""
    if not (len(value) <= MAX_ID_LENGTH and _is_id_text(value)):
        raise ValueError(
            f"an id is 1 to {MAX_ID_LENGTH} letters, digits or _ . : - |, without spaces"
        )
    return value


def check_sku_id(value: str) -> str:
    """`value` when it is a SKU id (an id without '|'), else a ValueError saying why."""
    if "|" in check_id(value):
        raise ValueError("a SKU id has no '|' (forecasts key a series 'sku|location')")
    return value


Identifier = Annotated[str, Field(min_length=1), AfterValidator(check_id)]
SkuIdentifier = Annotated[str, Field(min_length=1), AfterValidator(check_sku_id)]


def _whole_float_as_int(value: Any) -> Any:
    """12.0 is 12 (JSON writers of float columns write it so); 12.5, "12" and true stay refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole_float_as_int)]


class _Strict(BaseModel):
    # strict: "5" or true for a number, "yes" for a flag is an error naming the field, not 5.0,
    # 1.0 or True (numbers may still be whole for a float field)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class Warehouse(_Strict):
    """A stocking node. capacity: units (or volume when `capacity_unit: volume`) it can hold."""

    id: Identifier
    kind: WarehouseKind
    region: Identifier
    capacity: float = Field(ge=0, le=MAX_AMOUNT)  # 0: closed, holds nothing beyond what is there


class Lane(_Strict):
    """A one-way supply lane between two warehouses.

    cost_per_unit: money per unit moved. lead_time_days: days from dispatch to arrival.
    capacity: units (or volume) the lane carries at most in one plan; None = unlimited.
    """

    origin: str
    destination: str
    cost_per_unit: float = Field(ge=0, le=MAX_UNIT_MONEY)
    lead_time_days: WholeNumber = Field(ge=0, le=MAX_DAYS)
    capacity: float | None = Field(default=None, ge=0, le=MAX_AMOUNT)


class Lateral(_Strict):
    """A lateral link between two warehouses, usable in both directions (each with `capacity`)."""

    between: tuple[str, str] = Field(strict=False)  # a YAML or JSON list of two
    cost_per_unit: float = Field(ge=0, le=MAX_UNIT_MONEY)
    lead_time_days: WholeNumber = Field(ge=0, le=MAX_DAYS)
    capacity: float | None = Field(default=None, ge=0, le=MAX_AMOUNT)


class Distributor(_Strict):
    """A customer location the plan suggests replenishment for.

    region: its territory. tier: strategic / growth / observation. credit: green / yellow / red.
    guaranteed_amount: money a yellow-credit distributor may be supplied for at most (guaranteed
    or prepaid); only yellow credit has one.
    served_by: warehouses (of its territory, or central) allowed to supply it.
    moq: minimum units per delivery of a SKU (0 = none). pack_size: units per pack.
    lead_time_days: days from a warehouse to the distributor.
    cost_per_unit: money per unit delivered.
    """

    id: Identifier
    region: Identifier
    tier: Tier
    credit: Credit = "green"
    guaranteed_amount: float = Field(default=0.0, ge=0, le=MAX_AMOUNT)
    served_by: list[str] = Field(min_length=1)
    moq: WholeNumber = Field(default=0, ge=0, le=int(MAX_AMOUNT))
    pack_size: WholeNumber = Field(default=1, ge=1, le=int(MAX_AMOUNT))
    lead_time_days: WholeNumber = Field(default=2, ge=0, le=MAX_DAYS)
    cost_per_unit: float = Field(default=0.0, ge=0, le=MAX_UNIT_MONEY)

    @property
    def first_order(self) -> int:
        """The fewest units of a SKU it can be sent: its MOQ in whole packs, one pack at least."""
        return -(-max(self.moq, 1) // self.pack_size) * self.pack_size


class Sku(_Strict):
    """SKU attributes. unit_volume: volume per unit (capacity_unit "volume"); unit_cost: money per
    unit; hot: a hot SKU goes to strategic distributors first; abc: class by sales (A fastest).
    A brand that keeps ABC classes and no hot flags has its A class hot (`is_hot`); a `hot`
    given says it outright."""

    id: SkuIdentifier
    unit_volume: float = Field(default=1.0, gt=0, le=MAX_AMOUNT)
    unit_cost: float = Field(default=1.0, ge=0, le=MAX_UNIT_MONEY)
    hot: bool | None = None
    abc: Literal["A", "B", "C"] | None = None

    @property
    def is_hot(self) -> bool:
        return self.hot if self.hot is not None else self.abc == "A"


class Network(_Strict):
    """The whole network; validated on construction (ids, lanes, cycles, region protection)."""

    capacity_unit: Literal["units", "volume"] = "units"
    warehouses: list[Warehouse] = Field(min_length=1)
    lanes: list[Lane] = Field(default_factory=list)
    laterals: list[Lateral] = Field(default_factory=list)
    distributors: list[Distributor] = Field(default_factory=list)
    skus: list[Sku] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Network:
        _check_ids(self)
        warehouses = {w.id: w for w in self.warehouses}
        _check_lanes(self.lanes, warehouses, {d.id for d in self.distributors})
        _check_laterals(self.laterals, warehouses)
        _check_cycles(self.lanes)
        _check_lane_direction(self.lanes, warehouses)
        _check_distributors(self.distributors, warehouses)
        return self

    # Lookups used by the model; cheap enough to rebuild on demand.
    def warehouse(self, node: str) -> Warehouse:
        return {w.id: w for w in self.warehouses}[node]

    @property
    def node_ids(self) -> set[str]:
        return {w.id for w in self.warehouses} | {d.id for d in self.distributors}

    @property
    def sku_ids(self) -> list[str]:
        return [s.id for s in self.skus]


def _error(message: str, *, field: str, item: str) -> AllocationInputError:
    # Raised inside a pydantic validator it would be wrapped; `load_network` unwraps it.
    return AllocationInputError(message, source="network", field=field, item=item)


def _first_duplicate(ids: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            return value
        seen.add(value)
    return None


def _check_ids(network: Network) -> None:
    node = _first_duplicate(
        [w.id for w in network.warehouses] + [d.id for d in network.distributors]
    )
    if node is not None:
        raise _error(
            f"network: node id {node!r} is used twice "
            "(warehouse and distributor ids must be unique)",
            field="id",
            item=node,
        )
    sku = _first_duplicate(s.id for s in network.skus)
    if sku is not None:
        raise _error(f"network: SKU {sku!r} is listed twice in skus", field="skus", item=sku)
    lane = _first_duplicate(f"{ln.origin}->{ln.destination}" for ln in network.lanes)
    if lane is not None:
        raise _error(f"network: lane {lane} is listed twice", field="lanes", item=lane)


def _check_lanes(
    lanes: list[Lane], warehouses: dict[str, Warehouse], distributors: set[str]
) -> None:
    for lane in lanes:
        name = f"{lane.origin}->{lane.destination}"
        for end, node in (("origin", lane.origin), ("destination", lane.destination)):
            if node in distributors:
                raise _error(
                    f"network: lane {name} has a distributor as {end}; lanes connect warehouses "
                    f"(a distributor is supplied through its served_by warehouses)",
                    field=f"lanes.{end}",
                    item=name,
                )
            if node not in warehouses:
                raise _error(
                    f"network: lane {name} leads to nowhere: {end} {node!r} is not a warehouse "
                    f"(known: {sorted(warehouses)})",
                    field=f"lanes.{end}",
                    item=name,
                )
        if lane.origin == lane.destination:
            raise _error(
                f"network: lane {name} starts and ends at the same warehouse",
                field="lanes",
                item=name,
            )
        origin, destination = warehouses[lane.origin], warehouses[lane.destination]
        if origin.kind != "central" and origin.region != destination.region:
            # Across regions stock moves on laterals, which the policy lets carry overstock
            # only; a lane there would move any stock, around that rule.
            raise _error(
                f"network: lane {name} crosses regions ({origin.region} -> "
                f"{destination.region}); below the central warehouse lanes stay in their "
                "region: link the two as a lateral (across regions it carries overstock only, "
                "as the policy allows) or give both warehouses one region",
                field="lanes",
                item=name,
            )


def _check_lane_direction(lanes: list[Lane], warehouses: dict[str, Warehouse]) -> None:
    """Lanes run down the chain; checked after the cycles, which name a whole loop."""
    for lane in lanes:
        origin, destination = warehouses[lane.origin], warehouses[lane.destination]
        if kind_rank(origin.kind) >= kind_rank(destination.kind):
            name = f"{lane.origin}->{lane.destination}"
            raise _error(
                f"network: lane {name} runs from a {origin.kind} warehouse to a "
                f"{destination.kind} one; lanes carry stock down the supply chain (central -> "
                "regional -> forward): between two warehouses of one level, or back up, link "
                "them as a lateral",
                field="lanes",
                item=name,
            )


def _check_laterals(laterals: list[Lateral], warehouses: dict[str, Warehouse]) -> None:
    seen: set[frozenset[str]] = set()
    for lateral in laterals:
        a, b = lateral.between
        name = f"{a}<->{b}"
        for node in (a, b):
            if node not in warehouses:
                raise _error(
                    f"network: lateral {name} leads to nowhere: {node!r} is not a warehouse",
                    field="laterals.between",
                    item=name,
                )
        if a == b:
            raise _error(
                f"network: lateral {name} links a warehouse to itself", field="laterals", item=name
            )
        pair = frozenset((a, b))
        if pair in seen:
            raise _error(f"network: lateral {name} is listed twice", field="laterals", item=name)
        seen.add(pair)


def _check_cycles(lanes: list[Lane]) -> None:
    """Lanes must form a DAG: a cycle would let stock go round (and lead times never add up)."""
    graph: dict[str, list[str]] = {}
    for lane in lanes:
        graph.setdefault(lane.origin, []).append(lane.destination)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                raise _error(
                    f"network: lanes form a cycle {' -> '.join(cycle)}; supply lanes must not loop "
                    f"(use `laterals` for two-way transfers between warehouses)",
                    field="lanes",
                    item=" -> ".join(cycle),
                )
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def _check_distributors(distributors: list[Distributor], warehouses: dict[str, Warehouse]) -> None:
    for distributor in distributors:
        if (
            distributor.credit == "yellow"
            and "guaranteed_amount" not in distributor.model_fields_set
        ):
            # Left out, the amount was 0: the distributor got nothing, as if red, without a word.
            raise _error(
                f"network: distributor {distributor.id!r} has yellow credit but no "
                "guaranteed_amount; give the money it may be supplied for (0 for nothing)",
                field="distributors.guaranteed_amount",
                item=distributor.id,
            )
        if distributor.credit != "yellow" and distributor.guaranteed_amount > 0:
            # Only yellow credit is capped: a limit written on green would be ignored unseen.
            raise _error(
                f"network: distributor {distributor.id!r} has {distributor.credit} credit and a "
                f"guaranteed_amount of {distributor.guaranteed_amount:g}, which caps yellow "
                "credit only (green is supplied without a cap, red not at all); set credit "
                "yellow to cap it, or remove the amount",
                field="distributors.guaranteed_amount",
                item=distributor.id,
            )
        repeated = sorted(
            {node for node in distributor.served_by if distributor.served_by.count(node) > 1}
        )
        if repeated:
            # Each listed warehouse is a delivery option; one listed twice would be two options
            # with one stock and one credit, counted twice wherever the plan sums them.
            raise _error(
                f"network: distributor {distributor.id!r} lists {repeated[0]!r} twice in "
                "served_by; list each warehouse once",
                field="distributors.served_by",
                item=distributor.id,
            )
        for node in distributor.served_by:
            if node not in warehouses:
                raise _error(
                    f"network: distributor {distributor.id!r} is served_by {node!r}, "
                    f"which is not a warehouse",
                    field="distributors.served_by",
                    item=distributor.id,
                )
            region = warehouses[node].region
            # A central warehouse serves every territory, as its lanes reach every region: a
            # brand with one national warehouse could not list its regional distributors.
            if warehouses[node].kind != "central" and region != distributor.region:
                raise _error(
                    f"network: distributor {distributor.id!r} "
                    f"(territory {distributor.region!r}) is "
                    f"served_by {node!r} in region {region!r}; region protection allows only "
                    f"warehouses of its own territory, or a central one",
                    field="distributors.served_by",
                    item=distributor.id,
                )


def kind_rank(kind: str) -> int:
    """0 central, 1 regional, 2 forward: how far down the supply chain a warehouse sits."""
    return _KIND_RANK[kind]


class RepeatedKeyError(ValueError):
    """A key given twice in one mapping: YAML and JSON keep the last one without a word, so a
    second `distributors:` block pasted below the first replaced it."""


# libyaml's parser where PyYAML has it (the same safe constructor): the pure-Python one takes
# 3 s for the network of 10,000 SKUs x 50 warehouses, 50 distributors, libyaml 1 s.
class _YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if isinstance(key, Hashable) and key in seen:
                raise RepeatedKeyError(
                    f"key {key!r} is given twice, on lines {seen[key]} and {line}"
                )
            seen[key] = line
        return super().construct_mapping(node, deep)


def json_with_unique_keys(text: str | bytes) -> Any:
    """`json.loads`, but a key given twice in one object is a RepeatedKeyError naming it."""
    return json.loads(text, object_pairs_hook=_unique_json_keys)


def _unique_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise RepeatedKeyError(f"key {key!r} is given twice in one object")
        document[key] = value
    return document


def load_document(path: str | Path, source: str) -> dict[str, Any]:
    """Read a YAML or JSON mapping (UTF-8, a byte-order mark allowed); errors name the file."""
    path = Path(path)
    if not path.exists():
        raise AllocationInputError(f"{path}: file not found", source=str(path))
    try:
        text = path.read_text(encoding="utf-8-sig")
        is_json = path.suffix.lower() == ".json"
        document = json_with_unique_keys(text) if is_json else yaml.load(text, Loader=_YamlLoader)
    except UnicodeDecodeError as exc:
        raise AllocationInputError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at position "
            f"{exc.start}); save it as UTF-8",
            source=str(path),
        ) from exc
    except RepeatedKeyError as exc:
        raise AllocationInputError(
            f"{path}: {exc}; give each key once (the last one would replace the others)",
            source=str(path),
        ) from exc
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise AllocationInputError(
            f"{path}: not valid YAML/JSON ({exc})", source=str(path)
        ) from exc
    except OSError as exc:  # a folder, no permission
        raise AllocationInputError(
            f"{path}: cannot read the {source} file ({exc.strerror or exc})", source=str(path)
        ) from exc
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise AllocationInputError(
            f"{path}: expected a mapping of {source} fields at the top, "
            f"got {type(document).__name__}",
            source=str(path),
        )
    return document


def _item_id(document: dict[str, Any], loc: tuple[Any, ...]) -> str | None:
    """The id of the list entry a pydantic error points into (warehouses.2 -> its id)."""
    if len(loc) >= 2 and isinstance(loc[1], int):
        entries = document.get(str(loc[0]))
        if (
            isinstance(entries, list)
            and loc[1] < len(entries)
            and isinstance(entries[loc[1]], dict)
        ):
            entry = entries[loc[1]]
            value = entry.get("id") or entry.get("between")
            if value is None and "origin" in entry:
                value = f"{entry.get('origin')}->{entry.get('destination')}"
            return None if value is None else str(value)
    return None


def validation_message(
    exc: ValidationError, source: str, document: dict[str, Any] | None = None
) -> tuple[str, str | None, str | None]:
    """One line per pydantic problem naming where it is (warehouses.2.capacity) and the item id."""
    lines = []
    first_field: str | None = None
    first_item: str | None = None
    for problem in exc.errors()[:5]:
        loc = tuple(problem["loc"])
        where = ".".join(str(part) for part in loc) or "(top)"
        item = _item_id(document or {}, loc)
        first_field = first_field or where
        first_item = first_item or item
        named = f"{where} ({item})" if item else where
        given = problem.get("input")
        lines.append(f"{named}: {problem['msg']} (got {_shown(given)}){_quote_hint(problem)}")
    return f"{source}: " + "; ".join(lines), first_field, first_item


def _quote_hint(problem: Any) -> str:
    """Where text was expected and YAML read a number or true/false (an id 0123 became 83,
    the region NO became False): say to quote it."""
    given = problem.get("input")
    if problem.get("type") == "string_type" and isinstance(given, bool | int | float):
        return "; YAML reads 0123, 1e3, yes, no, on and off as numbers or true/false: quote it"
    return ""


def _shown(value: Any, most: int = 80) -> str:
    """A value as an error quotes it: its repr, cut to `most` characters (a problem with a
    whole list or document would otherwise quote all of it)."""
    text = repr(value)
    return text if len(text) <= most else text[: most - 3] + "..."


def parse_network(document: dict[str, Any], source: str = "network") -> Network:
    """Validate a network mapping, re-raising every problem as an AllocationInputError."""
    try:
        return Network.model_validate(document)
    except AllocationInputError as exc:
        exc.source = source
        raise
    except ValidationError as exc:
        # Our own checks inside the model validator arrive wrapped in pydantic's error.
        for problem in exc.errors():
            cause = problem.get("ctx", {}).get("error")
            if isinstance(cause, AllocationInputError):
                raise AllocationInputError(
                    str(cause).replace("network:", f"{source}:", 1),
                    source=source,
                    field=cause.field,
                    item=cause.item,
                ) from exc
        message, field, item = validation_message(exc, source, document)
        raise AllocationInputError(message, source=source, field=field, item=item) from exc


def load_network(path: str | Path) -> Network:
    """Read and validate a network from YAML or JSON; errors name the file and the item."""
    return parse_network(load_document(path, "network"), source=str(path))
