"""Bad networks and policies give errors that name the item."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import Field

import allocation as al
from allocation.errors import AllocationInputError
from allocation.network import load_document
from tests.allocation.conftest import demand_frame, stock_frame


def _error(document: dict[str, Any]) -> AllocationInputError:
    with pytest.raises(AllocationInputError) as caught:
        al.parse_network(document)
    return caught.value


def test_sample_network_loads(repo_root: Path) -> None:
    network = al.load_network(repo_root / "data/samples/network.yaml")
    assert {w.id for w in network.warehouses} >= {"CW", "RW-N", "FW-N1", "FW-E1", "FW-S1"}
    assert {d.id for d in network.distributors} == {"D-N1", "D-N2", "D-E1", "D-E2", "D-S1"}
    assert al.load_policy(repo_root / "data/samples/policy.yaml").review_period_days == 7


def test_lane_to_nowhere_names_the_lane(one_lane: dict[str, Any]) -> None:
    one_lane["lanes"][0]["destination"] = "FW-X"
    error = _error(one_lane)
    assert error.item == "CW->FW-X" and "nowhere" in str(error) and "FW-X" in str(error)


def test_a_lane_below_the_central_warehouse_stays_in_its_region(one_lane: dict[str, Any]) -> None:
    # A north regional warehouse supplying a south forward one moved any stock across regions,
    # where the policy lets laterals carry overstock only.
    one_lane["warehouses"] += [
        {"id": "RW-N", "kind": "regional", "region": "north", "capacity": 10},
        {"id": "FW-S", "kind": "forward", "region": "south", "capacity": 10},
    ]
    one_lane["lanes"] += [
        {"origin": "CW", "destination": "RW-N", "cost_per_unit": 1, "lead_time_days": 1},
        {"origin": "RW-N", "destination": "FW-S", "cost_per_unit": 1, "lead_time_days": 1},
    ]
    error = _error(one_lane)
    assert error.item == "RW-N->FW-S" and "crosses regions (north -> south)" in str(error)
    assert "lateral" in str(error)
    one_lane["lanes"].pop()  # the central warehouse's lanes reach every region
    one_lane["lanes"].append(
        {"origin": "CW", "destination": "FW-S", "cost_per_unit": 1, "lead_time_days": 1}
    )
    al.parse_network(one_lane)


def test_a_lane_back_up_the_chain_or_within_one_level_is_refused(one_lane: dict[str, Any]) -> None:
    # FW -> RW planned as if a forward warehouse supplied its regional one; the docs had lanes
    # run down the chain, and laterals (both ways) link warehouses of one level.
    one_lane["warehouses"].append({"id": "RW", "kind": "regional", "region": "r", "capacity": 10})
    one_lane["lanes"].append(
        {"origin": "FW", "destination": "RW", "cost_per_unit": 1, "lead_time_days": 1}
    )
    error = _error(one_lane)
    assert error.item == "FW->RW" and "from a forward warehouse to a regional one" in str(error)
    one_lane["lanes"][-1] = {
        "origin": "RW",
        "destination": "FW",
        "cost_per_unit": 1,
        "lead_time_days": 1,
    }
    al.parse_network(one_lane)
    one_lane["warehouses"].append({"id": "FW2", "kind": "forward", "region": "r", "capacity": 10})
    one_lane["lanes"].append(
        {"origin": "FW", "destination": "FW2", "cost_per_unit": 1, "lead_time_days": 1}
    )
    assert "link them as a lateral" in str(_error(one_lane))


def test_a_folder_given_as_the_network_or_policy_file_is_a_one_line_error(tmp_path: Path) -> None:
    for load in (al.load_network, al.load_policy):
        with pytest.raises(AllocationInputError, match=r"cannot read the (network|policy) file"):
            load(tmp_path)


def test_yellow_credit_needs_its_guaranteed_amount(two_tiers: dict[str, Any]) -> None:
    two_tiers["distributors"][0]["credit"] = "yellow"  # left out, it was 0: nothing, as if red
    error = _error(two_tiers)
    assert error.item == "D-A" and "no guaranteed_amount" in str(error)
    two_tiers["distributors"][0]["guaranteed_amount"] = 0
    al.parse_network(two_tiers)


@pytest.mark.parametrize("credit", ["green", "red"])
def test_a_guaranteed_amount_caps_yellow_credit_only(
    two_tiers: dict[str, Any], credit: str
) -> None:
    # On green it would be ignored: a planner's cap that no plan keeps.
    two_tiers["distributors"][0].update(credit=credit, guaranteed_amount=500)
    error = _error(two_tiers)
    assert error.item == "D-A" and error.field == "distributors.guaranteed_amount"
    assert f"{credit} credit and a guaranteed_amount of 500" in str(error)
    two_tiers["distributors"][0]["guaranteed_amount"] = 0  # as every stored network writes it
    al.parse_network(two_tiers)


def test_cycle_of_lanes_names_the_cycle(one_lane: dict[str, Any]) -> None:
    one_lane["lanes"].append(
        {"origin": "FW", "destination": "CW", "cost_per_unit": 1, "lead_time_days": 1}
    )
    error = _error(one_lane)
    assert "cycle" in str(error) and error.item in ("CW -> FW -> CW", "FW -> CW -> FW")


def test_duplicate_ids_are_named(one_lane: dict[str, Any]) -> None:
    one_lane["warehouses"].append({"id": "FW", "kind": "forward", "region": "r", "capacity": 1})
    assert _error(one_lane).item == "FW"
    one_lane["warehouses"].pop()
    one_lane["skus"].append({"id": "S"})
    assert _error(one_lane).item == "S"


def test_negative_capacity_names_the_warehouse(one_lane: dict[str, Any]) -> None:
    one_lane["warehouses"][1]["capacity"] = -5
    error = _error(one_lane)
    assert error.item == "FW" and "warehouses.1.capacity" in str(error)


def test_region_protection_refuses_a_foreign_warehouse(two_tiers: dict[str, Any]) -> None:
    two_tiers["warehouses"].append({"id": "X", "kind": "forward", "region": "other", "capacity": 9})
    two_tiers["distributors"][0]["served_by"] = ["X"]
    error = _error(two_tiers)
    assert error.item == "D-A" and "region protection" in str(error)


def test_a_central_warehouse_serves_a_distributor_of_any_territory(
    two_tiers: dict[str, Any],
) -> None:
    # One national warehouse and regional distributors: refused as a foreign warehouse, where
    # the central warehouse's lanes already reach every region.
    two_tiers["distributors"][0]["region"] = "east"
    network = al.parse_network(two_tiers)
    demand = demand_frame({("S", "D-A"): 1.0, ("S", "D-B"): 1.0})
    result = al.plan(network, stock_frame([("S", "CW", 30)]), demand)
    served = result.replenishment.set_index("distributor")["source"].to_dict()
    assert served == {"D-A": "CW", "D-B": "CW"}


def test_a_warehouse_listed_twice_in_served_by_is_refused(two_tiers: dict[str, Any]) -> None:
    # Counted twice it split the distributor's demand over one warehouse twice (a worse plan)
    # and crashed --integer-packs (helper-47).
    warehouse = two_tiers["distributors"][0]["served_by"][0]
    two_tiers["distributors"][0]["served_by"].append(warehouse)
    error = _error(two_tiers)
    assert error.item == "D-A" and f"lists {warehouse!r} twice in served_by" in str(error)
    assert error.field == "distributors.served_by"


def test_bad_policy_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("service_target: {strategic: 1.5}\n")
    with pytest.raises(AllocationInputError) as caught:
        al.load_policy(path)
    assert "service_target" in str(caught.value) and str(path) in str(caught.value)
    path.write_text("review_period_days: 14\nfair_share: {growth: 0.6}\n")
    policy = al.load_policy(path)
    assert policy.review_period_days == 14 and policy.fair_share["growth"] == 0.6
    assert policy.fair_share["strategic"] == al.Policy().fair_share["strategic"]
    path.write_text("holding_rate_per_year: 25\n")  # 25 %, read as 2,500 % a year
    with pytest.raises(AllocationInputError, match=r"holding_rate_per_year.*or equal to 5"):
        al.load_policy(path)


def test_an_id_yaml_reads_as_a_number_or_true_false_says_to_quote_it(
    two_tiers: dict[str, Any],
) -> None:
    two_tiers["skus"].append({"id": 83})  # `id: 0123` in YAML
    with pytest.raises(AllocationInputError, match=r"\(got 83\); YAML reads 0123.*quote it"):
        al.parse_network(two_tiers)


def test_a_whole_number_written_as_a_float_is_read_as_one(two_tiers: dict[str, Any]) -> None:
    # JSON writers of float columns write 12.0: "Input should be a valid integer (got 12.0)".
    two_tiers["distributors"][0].update(moq=12.0, pack_size=6.0, lead_time_days=2.0)
    distributor = al.parse_network(two_tiers).distributors[0]
    assert (distributor.moq, distributor.pack_size, distributor.lead_time_days) == (12, 6, 2)
    assert isinstance(distributor.moq, int)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("lanes", 0, "lead_time_days"), 10**30),  # overflowed the plan's dates: a 500 in the API
        (("skus", 0, "unit_cost"), 1e308),  # made the objective infinite: PuLP refused it
        (("warehouses", 1, "capacity"), 1e300),
    ],
)
def test_absurdly_large_numbers_are_refused_naming_the_field(
    one_lane: dict[str, Any], path: tuple[str, int, str], value: float
) -> None:
    group, index, field = path
    one_lane[group][index][field] = value
    error = _error(one_lane)
    assert f"{group}.{index}.{field}" in str(error) and "less than or equal" in str(error)


@pytest.mark.parametrize(
    "override",
    [
        {"shortage_penalty": {"strategic": 1e308}},
        {"overstock_days": 1e308},
        {"review_period_days": 10**30},
        {"fair_share_penalty": 1e300},
    ],
)
def test_absurdly_large_policy_values_are_refused_naming_the_field(
    override: dict[str, Any],
) -> None:
    with pytest.raises(AllocationInputError) as caught:
        al.parse_policy(override)
    assert next(iter(override)) in str(caught.value)


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"stockout_day_weight": 1.0}, "lets observation (shortage_penalty 2, up to 4"),
        # the default weight 0.3 against penalties set closer than it allows
        ({"shortage_penalty": {"strategic": 3.5}}, "outrank strategic (3.5): keep it below 0.167"),
    ],
)
def test_a_stockout_day_weight_that_would_reorder_tiers_is_refused(
    override: dict[str, Any], words: str
) -> None:
    with pytest.raises(AllocationInputError) as caught:
        al.parse_policy(override)
    assert "stockout_day_weight" in str(caught.value) and words in str(caught.value)
    # below the ratio it is taken: 3.5 / 3 - 1 = 0.167
    al.parse_policy({"shortage_penalty": {"strategic": 3.5}, "stockout_day_weight": 0.16})


def test_an_error_about_a_whole_list_quotes_a_bounded_part_of_it(
    one_lane: dict[str, Any],
) -> None:
    one_lane["lanes"] = {"not": "a list", "padding": "x" * 10_000}
    message = str(_error(one_lane))
    assert "lanes" in message and len(message) < 300


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("warehouses", 1, "capacity"), "5"),  # were read as 5.0, 1.0, 2 and True
        (("warehouses", 1, "capacity"), True),
        (("lanes", 0, "lead_time_days"), "2"),
        (("lanes", 0, "lead_time_days"), 2.5),
        (("lanes", 0, "lead_time_days"), True),
        (("skus", 0, "hot"), "yes"),
    ],
)
def test_a_number_or_flag_of_another_type_is_refused_naming_the_field(
    one_lane: dict[str, Any], path: tuple[str, int, str], value: object
) -> None:
    group, index, field = path
    one_lane[group][index][field] = value
    assert f"{group}.{index}.{field}" in str(_error(one_lane))


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (("warehouses", 1, "id"), "FW 1", "without spaces"),  # no path or table took it
        (("warehouses", 1, "region"), "x" * 65, "1 to 64"),
        (("skus", 0, "id"), "A|B", "no '|'"),
    ],
)
def test_an_id_the_service_could_not_take_is_refused(
    one_lane: dict[str, Any], path: tuple[str, int, str], value: str, words: str
) -> None:
    group, index, field = path
    one_lane[group][index][field] = value
    error = _error(one_lane)
    assert f"{group}.{index}.{field}" in str(error) and words in str(error)


@pytest.mark.parametrize("sku", ["饮料-001", "गोदाम", "คลังสินค้า", "cafe\u0301", "می\u200cخواهم"])
def test_ids_may_be_written_in_any_script(one_lane: dict[str, Any], sku: str) -> None:
    # Scripts with combining marks (Devanagari, Thai, a decomposed é) were refused here while
    # the service's query filters, on another regex engine, took them.
    one_lane["warehouses"][1]["region"] = "华东"
    one_lane["skus"][0]["id"] = sku
    network = al.Network.model_validate(one_lane)
    assert network.sku_ids == [sku]


def test_the_id_check_takes_no_character_the_service_s_id_pattern_refuses() -> None:
    from pydantic import BaseModel

    from allocation.network import ID_PATTERN, check_id

    class Query(BaseModel):
        id: Annotated[str, Field(pattern=ID_PATTERN)]

    for code in range(0x20, 0x3000):  # Latin to CJK punctuation, the marks of many scripts
        char = chr(code)
        try:
            check_id(char)
        except ValueError:
            continue
        Query(id=char)  # raises where the service would refuse what the network took


def test_a_policy_number_of_another_type_is_refused() -> None:
    with pytest.raises(AllocationInputError, match="overstock_days"):
        al.parse_policy({"overstock_days": "60"})


@pytest.mark.parametrize(
    ("name", "text", "shown"),
    [
        # a second block pasted below the first replaced it: D-1 planned as red, observation
        ("network.yaml", "skus: [{id: A}]\ndistributors: []\nskus: [{id: B}]\n", "lines 1 and 3"),
        ("network.yaml", "warehouses:\n  - {id: FW, capacity: 5, capacity: 0}\n", "'capacity'"),
        ("network.json", '{"skus": [], "skus": []}', "'skus' is given twice"),
    ],
)
def test_a_key_given_twice_is_refused(tmp_path: Path, name: str, text: str, shown: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(AllocationInputError, match="given twice") as caught:
        al.load_network(path)
    assert str(path) in str(caught.value) and shown in str(caught.value)


def test_a_yaml_merge_key_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("base: &b {a: 1, b: 2}\nentry: {<<: *b, b: 3}\n")
    assert load_document(path, "policy")["entry"] == {"a": 1, "b": 3}


def test_a_file_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "network.yaml"
    path.write_bytes("warehouses: [{id: 华东仓}]\n".encode("gbk"))
    with pytest.raises(AllocationInputError, match=r"not UTF-8 text.*save it as UTF-8"):
        al.load_network(path)
    path = tmp_path / "network.json"  # a byte-order mark is UTF-8 too
    path.write_bytes(b'\xef\xbb\xbf{"skus": []}')
    assert load_document(path, "network") == {"skus": []}


def test_a_policy_takes_its_review_period_written_as_a_float() -> None:
    # As a network's lead times do: 7.0 was "Input should be a valid integer (got 7.0)".
    assert al.parse_policy({"review_period_days": 7.0}).review_period_days == 7
    with pytest.raises(AllocationInputError, match=r"review_period_days.*valid integer"):
        al.parse_policy({"review_period_days": 7.5})
