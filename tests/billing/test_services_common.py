"""What every billing service shares (``services/billing/_common.py``): the quantity rule, the
metadata on what zigznote creates, and the refusal of what a provider cannot do."""

from __future__ import annotations

import pytest

from zigznote.errors import InvalidInput
from zigznote.services.billing._common import MAX_QUANTITY, check_quantity, ours, unsupported_by

ORG = "org_01JD7Q8Z4W6X2Y3V5T7R9P1N3M"


@pytest.mark.parametrize("value", [0, -1, MAX_QUANTITY + 1])
def test_a_quantity_outside_1_to_10000_is_refused(value: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_quantity(value)
    assert (caught.value.code, caught.value.message) == (
        "invalid_quantity",
        f"quantity must be 1 to 10000, not {value}",
    )


def test_a_quantity_inside_the_range_is_kept() -> None:
    assert (check_quantity(1), check_quantity(MAX_QUANTITY)) == (1, 10_000)


def test_what_we_create_names_the_organization_and_the_plan() -> None:
    assert ours(ORG) == {"zigznote_org": ORG}
    assert ours(ORG, "pro") == {"zigznote_org": ORG, "zigznote_plan": "pro"}


def test_an_operation_a_provider_cannot_do_names_it_by_title() -> None:
    error = unsupported_by("flutterwave", "pause subscriptions")
    assert (error.code, error.exit_code) == ("unsupported_by_provider", 2)
    assert error.message == "Flutterwave cannot pause subscriptions"
    assert error.hint == "`zigznote billing providers` lists what each provider can do"
