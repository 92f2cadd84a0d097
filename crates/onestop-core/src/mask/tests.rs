#![allow(clippy::unwrap_used)]

use super::*;

/// Valid resident IDs (GB 11643 check character).
const ID: &str = "110101199003077774";
const ID_X: &str = "11010519491231002X";
const ID2: &str = "310101198511201236";
const PHONE: &str = "13812345678";
const PHONE2: &str = "19987654321";

fn redact(s: &str) -> String {
    redact_text(s).into_owned()
}

#[test]
fn resident_ids() {
    assert_eq!(resident_id("110101199003077777"), "110***********7777");
    assert_eq!(resident_id(ID_X), "110***********002X");
    assert_eq!(resident_id("11010519491231002x"), "110***********002x");
    assert_eq!(resident_id("110101900307777"), "110********7777");
    // Anything else: all but the last 4.
    assert_eq!(resident_id("A1234567"), "****4567");
    assert_eq!(resident_id("11010119900307777"), "*************7777");
    assert_eq!(resident_id("护照E12345678"), "*******5678");
    assert_eq!(resident_id("1234"), "****");
    assert_eq!(resident_id("12"), "**");
    assert_eq!(resident_id(""), "");
}

#[test]
fn check_digits() {
    assert!(is_resident_id(ID));
    assert!(is_resident_id(ID_X));
    assert!(is_resident_id("11010519491231002x"));
    assert!(is_resident_id("440524188001010014"));
    assert!(!is_resident_id("110101199003077777"));
    assert!(!is_resident_id("110105194912310021"));
    assert!(!is_resident_id("1101051949123100"));
    assert!(!is_resident_id("11010519491231002XX"));
    assert!(!is_resident_id("1101051949123100a2"));
    assert!(!is_resident_id("身份证号码1234567"));
}

#[test]
fn phones() {
    assert_eq!(phone("13812345678"), "138****5678");
    assert_eq!(phone("+8613812345678"), "+86138****5678");
    assert_eq!(phone("8613812345678"), "86138****5678");
    assert_eq!(phone("+86 138 1234 5678"), "+86 138 **** 5678");
    assert_eq!(phone("+86-138-1234-5678"), "+86-138-****-5678");
    assert_eq!(phone("010-12345678"), "010-****5678");
    assert_eq!(phone("(010)12345678"), "(010)****5678");
    assert_eq!(phone("02012345678"), "020****5678");
    assert_eq!(phone("0571-87654321"), "0571-****4321");
    assert_eq!(phone("057187654321"), "0571****4321");
    assert_eq!(phone("0571 876543"), "0571 ****43");
    // Not a phone number we know: all but the last 4.
    assert_eq!(phone("87654321"), "****4321");
    assert_eq!(phone("12345678901"), "*******8901");
    assert_eq!(phone("+1 415 555 0100"), "***********0100");
    assert_eq!(phone("+8612345"), "****2345");
    assert_eq!(phone("110"), "***");
}

#[test]
fn names() {
    assert_eq!(name("张三"), "张*");
    assert_eq!(name("欧阳娜娜"), "欧***");
    assert_eq!(name("王"), "*");
    assert_eq!(name(" 李小龙 "), "李**");
    assert_eq!(name("买买提·艾力"), "买**·**");
    assert_eq!(name("John Smith"), "J*** S****");
    assert_eq!(name("alice"), "a****");
    assert_eq!(name("Zoë  Saldaña"), "Z**  S******");
    assert_eq!(name(""), "");
}

#[test]
fn bank_cards() {
    assert_eq!(bank_card("6222021234567890123"), "622202*********0123");
    assert_eq!(bank_card("6222 0212 3456 7890 123"), "622202*********0123");
    assert_eq!(bank_card("6222-0212-3456-7890"), "622202******7890");
    assert_eq!(bank_card("622202123456"), "622202**3456");
    // Too short, too long or not a card: all but the last 4.
    assert_eq!(bank_card("62220212345"), "*******2345");
    assert_eq!(bank_card("62220212345678901234"), "****************1234");
    assert_eq!(bank_card("6222/0212/3456/7890"), "***************7890");
}

#[test]
fn addresses() {
    assert_eq!(address("北京市东城区东华门街道1号"), "北京市东城区****");
    assert_eq!(
        address("浙江省杭州市西湖区文三路90号"),
        "浙江省杭州市西湖区****"
    );
    assert_eq!(address("上海市浦东新区世纪大道100号"), "上海市浦东新区****");
    assert_eq!(address("重庆市渝中区解放碑"), "重庆市渝中区****");
    assert_eq!(address("江苏省昆山市玉山镇前进路8号"), "江苏省昆山市****");
    assert_eq!(address("云南省大理白族自治州大理市下关镇"), "****");
    assert_eq!(address("四川省凉山彝族自治州昭觉县"), "****");
    assert_eq!(address("河北省正定县常山路"), "河北省正定县****");
    assert_eq!(address("中关村大街1号"), "****");
    // The first two characters never end the kept part.
    assert_eq!(address("区府路1号"), "****");
    assert_eq!(address("市中区人民路"), "市中区****");
    assert_eq!(address(""), "****");
    // The length is not revealed.
    assert_eq!(
        address("北京市东城区1号"),
        address("北京市东城区东华门街道东华门大街甲1号院3号楼2单元")
    );
}

#[test]
fn kinds() {
    for kind in Kind::ALL {
        assert_eq!(Kind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(Kind::parse("bank_card"), Some(Kind::BankCard));
    assert_eq!(Kind::parse("BankCard"), None);
    assert_eq!(Kind::parse(""), None);
    assert_eq!(apply(Kind::ResidentId, ID), "110***********7774");
    assert_eq!(apply(Kind::Phone, PHONE), "138****5678");
    assert_eq!(apply(Kind::Name, "张三"), "张*");
    assert_eq!(
        apply(Kind::BankCard, "6222021234567890123"),
        "622202*********0123"
    );
    assert_eq!(apply(Kind::Address, "北京市东城区1号"), "北京市东城区****");
    assert_eq!(apply(Kind::Full, "anything at all"), "****");
    assert_eq!(apply(Kind::Full, ""), "****");
}

#[test]
fn redacts_ids_and_phones_in_text() {
    assert_eq!(
        redact(&format!("citizen {ID} phone {PHONE}")),
        "citizen 110***********7774 phone 138****5678"
    );
    assert_eq!(redact(ID_X), "110***********002X");
    assert_eq!(redact("id=11010519491231002x;"), "id=110***********002x;");
    assert_eq!(redact(PHONE), "138****5678");
    assert_eq!(redact("tel:+8613812345678."), "tel:+86138****5678.");
    assert_eq!(redact("8613812345678"), "86138****5678");
    assert_eq!(redact("+86 13812345678"), "+86 138****5678");
}

#[test]
fn neighbours_of_a_match() {
    // Chinese characters, quotes, `=`, `/`, brackets, whitespace, `_` and `-`.
    let cases = [
        (
            format!("身份证{ID}的居民"),
            "身份证110***********7774的居民",
        ),
        (format!("手机{PHONE}。"), "手机138****5678。"),
        (format!("\"{ID}\""), "\"110***********7774\""),
        (
            format!("id={ID}&phone={PHONE}"),
            "id=110***********7774&phone=138****5678",
        ),
        (
            format!("/citizens/{ID}/phones/{PHONE}/"),
            "/citizens/110***********7774/phones/138****5678/",
        ),
        (
            format!("[{PHONE}]({ID_X})"),
            "[138****5678](110***********002X)",
        ),
        (format!("\t{PHONE}\n"), "\t138****5678\n"),
        (format!("user_{PHONE}-x"), "user_138****5678-x"),
    ];
    for (input, want) in cases {
        assert_eq!(redact(&input), want, "{input}");
    }
}

#[test]
fn what_is_not_matched() {
    let untouched = [
        // Inside a longer digit run, or a shorter one.
        format!("9{ID}"),
        format!("{ID}0"),
        format!("0{PHONE}"),
        format!("{PHONE}9"),
        "1381234567".to_string(),
        "123456789012".to_string(),
        // Letters around.
        format!("a{ID}"),
        format!("{ID}b"),
        format!("x{PHONE}"),
        format!("{PHONE}y"),
        format!("{ID_X}Y"),
        // Wrong check digit; `X` where a digit is due.
        "110101199003077777".to_string(),
        "110105194912310021".to_string(),
        "11010119900307777X".to_string(),
        // Not a mobile prefix (`1[3-9]`).
        "12812345678".to_string(),
        "10012345678".to_string(),
        "23812345678".to_string(),
        // `86` but not a mobile behind it; a 13-digit run not starting `86`.
        "8612812345678".to_string(),
        "8713812345678".to_string(),
        // A decimal number.
        format!("\"duration_ms\":1.{PHONE}"),
        format!("{PHONE}.25"),
        format!("0.{ID}"),
        // Timestamps, UUIDs, hashes.
        "1712345678901".to_string(),
        "550e8400-e29b-41d4-a716-446655440000".to_string(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_string(),
        String::new(),
        "没有数字的中文".to_string(),
    ];
    for s in &untouched {
        assert!(matches!(redact_text(s), Cow::Borrowed(_)), "{s}");
        assert!(find_unmasked(s).is_empty(), "{s}");
    }
    // A full stop that ends a sentence is no decimal point.
    assert_eq!(redact(&format!("call {PHONE}.")), "call 138****5678.");
    assert_eq!(redact(&format!("v1.{PHONE}x")), format!("v1.{PHONE}x"));
}

#[test]
fn json_lines() {
    let line = format!(
        r#"{{"timestamp":"2025-06-01T08:00:00.123456Z","level":"INFO","target":"onestop::access","request_id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","method":"GET","path":"/api/v1/depts/hpf/accounts/{ID}","query":"phone={PHONE}","status":200,"duration_ms":1.2345,"name":"张三","note":"身份证{ID_X}，手机+86{PHONE2}"}}"#
    );
    let out = redact(&line);
    assert_eq!(
        out,
        r#"{"timestamp":"2025-06-01T08:00:00.123456Z","level":"INFO","target":"onestop::access","request_id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","method":"GET","path":"/api/v1/depts/hpf/accounts/110***********7774","query":"phone=138****5678","status":200,"duration_ms":1.2345,"name":"张三","note":"身份证110***********002X，手机+86199****4321"}"#
    );
    assert_eq!(out.len(), line.len());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["duration_ms"], 1.2345);
    assert!(find_unmasked(&out).is_empty());
}

#[test]
fn finds_every_match_with_its_offset() {
    let text = format!("a {ID} b {PHONE} c +86{PHONE2} d {ID_X}");
    let found = find_unmasked(&text);
    assert_eq!(
        found,
        vec![(2, ID), (23, PHONE), (38, "8619987654321"), (54, ID_X),]
    );
    for (at, m) in &found {
        assert_eq!(&text[*at..*at + m.len()], *m);
    }
}

#[test]
fn many_matches_in_one_line() {
    let mut line = String::new();
    let mut want = String::new();
    for i in 0..200 {
        line.push_str(&format!("{i}:{ID},{PHONE};{ID2} "));
        want.push_str(&format!(
            "{i}:110***********7774,138****5678;310***********1236 "
        ));
    }
    assert_eq!(find_unmasked(&line).len(), 600);
    assert_eq!(redact(&line), want);
    let mut bytes = line.into_bytes();
    assert_eq!(redact_in_place(&mut bytes), 600);
    assert_eq!(String::from_utf8(bytes).unwrap(), want);
}

#[test]
fn redaction_is_idempotent_and_leaves_nothing() {
    let texts = [
        format!("{ID} {PHONE} 86{PHONE2} {ID_X}"),
        format!("身份证{ID}手机{PHONE}"),
        format!("{{\"a\":\"{ID}\",\"b\":[{PHONE},{PHONE2}]}}"),
    ];
    for t in &texts {
        let once = redact(t);
        assert_ne!(&once, t);
        assert_eq!(redact(&once), once);
        assert!(matches!(redact_text(&once), Cow::Borrowed(_)));
        assert!(find_unmasked(&once).is_empty(), "{once}");
        let mut bytes = t.clone().into_bytes();
        redact_in_place(&mut bytes);
        assert_eq!(bytes, once.as_bytes());
    }
}

/// 17 random digits and their check character.
fn random_id(rng: &mut fastrand::Rng) -> String {
    let first17: Vec<u8> = (0..17).map(|_| b'0' + rng.u8(0..10)).collect();
    let check = check_char(&first17).unwrap();
    let mut id = String::from_utf8(first17).unwrap();
    id.push(char::from(check));
    id
}

fn random_phone(rng: &mut fastrand::Rng) -> String {
    let mut p = format!("1{}", rng.u8(3..10));
    for _ in 0..9 {
        p.push(char::from(b'0' + rng.u8(0..10)));
    }
    p
}

/// Random text around planted IDs and phones: Chinese, ASCII words,
/// punctuation and digit runs; each planted value behind and before a
/// separator that cannot join it to a longer run.
#[test]
fn generated_ids_and_phones_in_random_text_are_all_masked() {
    const FILLER: &[&str] = &[
        "身份证",
        "手机号",
        "，",
        "。",
        "居民",
        "张三",
        " ",
        "\"",
        "=",
        "/",
        ":",
        "path",
        "v1",
        "42",
        "2025-06-01",
        "3.14",
        "{\"k\":",
        "}",
        "&",
        "?",
        "\n",
        "-",
        "_",
        "12345",
    ];
    const SEPARATORS: &[&str] = &[
        " ", "\"", "=", "/", "，", "：", "(", ")", "\t", "的", ",", ";",
    ];
    let mut rng = fastrand::Rng::with_seed(11643);
    let mut planted_total = 0;
    for _ in 0..2000 {
        let mut text = String::new();
        let mut planted = Vec::new();
        for _ in 0..rng.usize(1..6) {
            for _ in 0..rng.usize(0..5) {
                text.push_str(FILLER[rng.usize(..FILLER.len())]);
            }
            let value = match rng.u8(0..3) {
                0 => random_id(&mut rng),
                1 => random_phone(&mut rng),
                _ => format!("+86{}", random_phone(&mut rng)),
            };
            text.push_str(SEPARATORS[rng.usize(..SEPARATORS.len())]);
            text.push_str(&value);
            text.push_str(SEPARATORS[rng.usize(..SEPARATORS.len())]);
            planted.push(value);
        }
        let found = find_unmasked(&text);
        assert!(found.len() >= planted.len(), "{text}: {found:?}");
        let out = redact_text(&text);
        assert_eq!(out.len(), text.len());
        assert!(find_unmasked(&out).is_empty(), "{text} -> {out}");
        assert_eq!(redact(&out), out);
        for value in &planted {
            let bare = value.trim_start_matches("+86");
            assert!(!out.contains(bare), "{bare} left in {out}");
            let masked = if bare.len() == 18 {
                resident_id(bare)
            } else {
                phone(bare)
            };
            assert!(out.contains(&masked), "{masked} not in {out}");
        }
        planted_total += planted.len();
    }
    assert!(planted_total > 4000, "{planted_total}");
}

#[test]
fn every_generated_id_is_valid_and_every_wrong_check_is_refused() {
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..5000 {
        let id = random_id(&mut rng);
        assert!(is_resident_id(&id), "{id}");
        assert_eq!(find_unmasked(&id), vec![(0, id.as_str())]);
        let mut wrong = id.clone().into_bytes();
        wrong[17] = if wrong[17] == b'0' { b'1' } else { b'0' };
        let wrong = String::from_utf8(wrong).unwrap();
        assert!(!is_resident_id(&wrong), "{wrong}");
        assert!(find_unmasked(&wrong).is_empty(), "{wrong}");
    }
}
