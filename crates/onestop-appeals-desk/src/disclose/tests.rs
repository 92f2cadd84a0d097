//! Tests of the public feed's masking.

use super::*;

/// What an e2e scan of the feed looks for: no ID (with a valid check
/// character) and no mobile number left.
fn unmasked(s: &str) -> Vec<String> {
    mask::find_unmasked(s)
        .into_iter()
        .map(|(_, m)| m.to_owned())
        .collect()
}

#[test]
fn ids_with_valid_check_characters_are_masked_as_everywhere() {
    assert!(mask::is_resident_id("110101199003077774"));
    assert!(mask::is_resident_id("44030619851204123X"));
    let t = public_text(
        "身份证号110101199003077774，我爱人的是44030619851204123X，老证号110101900307777。",
        None,
    );
    assert_eq!(
        t,
        "身份证号110***********7774，我爱人的是440***********123X，老证号110********7777。"
    );
    assert!(unmasked(&t).is_empty(), "{t}");
    // Written with spaces, or in full-width digits: still masked.
    let t = public_text(
        "证件 110101 19900307 7774 和 １１０１０１１９９００３０７７７７４",
        None,
    );
    assert!(!t.contains("19900307"), "{t}");
    assert!(!t.contains("１９９００３０７"), "{t}");
    assert_eq!(t.matches('*').count(), 22, "{t}");
}

#[test]
fn mobiles_and_landlines_are_masked() {
    let t = public_text(
        "请联系我13812345678或+86 139-1234-5678，单位电话010-12345678，家里87654321。",
        None,
    );
    assert_eq!(
        t,
        "请联系我138****5678或+86 139-****-5678，单位电话010-****5678，家里********。"
    );
    assert!(unmasked(&t).is_empty(), "{t}");
    // Glued to Chinese on both sides, and in full-width digits.
    let t = public_text("电话１３９１２３４５６７８谢谢", None);
    assert_eq!(t, "电话139****5678谢谢");
}

#[test]
fn long_digit_runs_are_hidden_and_short_numbers_kept() {
    assert_eq!(
        public_text(
            "卡号6222021234567890123，金额300元，共5户，2026年12月",
            None
        ),
        "卡号*******************，金额300元，共5户，2026年12月"
    );
    assert_eq!(public_text("工单1234567", None), "工单*******");
    assert_eq!(public_text("等了123456天", None), "等了123456天");
}

#[test]
fn emails_lose_their_local_part() {
    assert_eq!(
        public_text("邮箱zhang.san+gov@example.com.cn，或者li_si@qq.com。", None),
        "邮箱***@example.com.cn，或者***@qq.com。"
    );
    assert_eq!(
        public_text("不是邮箱：a@b 和 @home", None),
        "不是邮箱：a@b 和 @home"
    );
}

#[test]
fn the_address_and_house_numbers_are_masked() {
    let address = "广州市天河区体育西路103号维多利广场B座";
    let t = public_text(
        "我住在广州市天河区体育西路103号维多利广场B座，另有3号楼2单元501室漏水",
        Some(address),
    );
    assert_eq!(t, "我住在广州市天河区****，另有*号楼*单元***室漏水");
    assert_eq!(public_text("住3栋501，1号", None), "住*栋***，*号");
    assert_eq!(district(address).as_deref(), Some("广州市天河区"));
    assert_eq!(
        district("北京市东城区东华门街道1号").as_deref(),
        Some("北京市东城区")
    );
    assert_eq!(district("某路1号"), None);
    assert_eq!(district("深圳市南山科技园"), None);
}

#[test]
fn names_after_an_introduction_are_masked() {
    assert_eq!(
        public_text("我叫张三丰，联系人：李四，姓名 欧阳娜", None),
        "我叫张**，联系人：李*，姓名 欧**"
    );
    assert_eq!(public_text("我叫", None), "我叫");
}

#[test]
fn masking_is_idempotent_and_leaves_plain_text_alone() {
    let plain = "小区停水三天了，请尽快处理。Water is off.";
    assert_eq!(public_text(plain, None), plain);
    let once = public_text("身份证110101199003077774 电话13812345678 a.b@c.cn", None);
    assert_eq!(public_text(&once, None), once);
}
