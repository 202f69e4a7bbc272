from gateway.core.masking import mask_digits, mask_name


def test_names_are_masked() -> None:
    assert mask_name("张小华") == "张*华"
    assert mask_name("张华") == "张*"
    assert mask_name("欧阳小明") == "欧**明"
    assert mask_name("Alice Smith") == "A**** S****"


def test_digits_keep_last_four() -> None:
    assert mask_digits("138-1234-5678") == "*******5678"
