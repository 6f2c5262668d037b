"""What the browser run calls wrong on a device page, and the texts it clicks."""

from eo_lab.ui_flows import DevicePage, load_strings


def test_a_page_of_named_entities_is_fine() -> None:
    page = DevicePage("House battery", ["House battery", "Charge energy", "Reason"])
    assert page.problems() == []


def test_a_second_entity_shown_by_the_device_s_name_is_a_problem() -> None:
    page = DevicePage("Wallbox", ["Wallbox", "Wallbox", "Reason"])
    assert "Wallbox: entities without a name of their own" in page.problems()


def test_two_entities_of_one_name_are_a_problem() -> None:
    page = DevicePage("Inverter", ["Active power limit", "Active power limit"])
    assert page.problems() == ["Inverter: two entities named Active power limit"]


def test_an_entity_shown_by_its_id_is_a_problem() -> None:
    page = DevicePage("Alfen", ["number.alfen_eve_ng910", "Charging power"])
    assert page.problems() == [
        "Alfen: an entity shown by its id number.alfen_eve_ng910"
    ]


def test_a_page_without_entities_is_a_problem() -> None:
    assert DevicePage("Meter", []).problems() == ["Meter: the page lists no entity"]


def test_the_dialog_s_words_are_the_integration_s_english_texts() -> None:
    strings = load_strings()
    menu = strings["config"]["step"]["user"]["menu_options"]
    assert {
        "tcp",
        "serial",
        "battery_manager",
        "peak_shaving",
        "wallbox_manager",
    } <= set(menu)
    assert strings["config"]["error"]["setpoint_one_sign"].startswith(
        "This number cannot set the battery's power both ways"
    )
