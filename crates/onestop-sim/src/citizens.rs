//! Deterministic citizens with resident ID numbers that pass the GB 11643-1999
//! check, plus which department holds data on whom.

use std::collections::{HashMap, HashSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::data::{self, Date};

/// How many of the first citizens every department knows.
pub const KNOWN_EVERYWHERE: usize = 10;

/// Per-mille chance that a department holds data on any other citizen.
const KNOWN_PER_MILLE: u64 = 850;

/// GB 11643-1999 weights of the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each value of the weighted sum mod 11.
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Administrative division codes (GB/T 2260) citizens are registered in.
pub const AREAS: &[(&str, &str)] = &[
    ("500101", "重庆市万州区"),
    ("500103", "重庆市渝中区"),
    ("500105", "重庆市江北区"),
    ("500106", "重庆市沙坪坝区"),
    ("500112", "重庆市渝北区"),
    ("310101", "上海市黄浦区"),
    ("310104", "上海市徐汇区"),
    ("310115", "上海市浦东新区"),
    ("440103", "广州市荔湾区"),
    ("440106", "广州市天河区"),
    ("440305", "深圳市南山区"),
    ("440304", "深圳市福田区"),
    ("110101", "北京市东城区"),
    ("110105", "北京市朝阳区"),
    ("510104", "成都市锦江区"),
    ("510107", "成都市武侯区"),
    ("330106", "杭州市西湖区"),
    ("420106", "武汉市武昌区"),
];

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任",
    "沈", "姚", "卢", "钟", "谭", "陆", "汪", "范", "金", "廖", "夏", "欧阳",
];
const GIVEN_MALE: &[&str] = &[
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏", "华", "飞",
    "鑫", "波", "斌", "宇", "浩", "凯", "健", "俊", "帆", "志", "建", "国", "文", "博",
];
const GIVEN_FEMALE: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "玲", "桂", "英", "婷", "雪", "琳", "晶",
    "慧", "颖", "倩", "欣", "悦", "佳", "雯", "怡", "梅", "萍", "红", "燕", "兰", "丹",
];
const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "156", "157", "158", "159", "166", "176", "177", "178", "180", "181", "182", "183", "185",
    "186", "187", "188", "189", "191", "198", "199",
];

/// Sex as encoded in the 17th digit of the resident ID (odd = male).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    /// `男` / `女`.
    pub fn zh(self) -> &'static str {
        match self {
            Gender::Male => "男",
            Gender::Female => "女",
        }
    }
}

/// One generated citizen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Citizen {
    /// 18-character resident ID number (居民身份证号码) with a valid check digit.
    pub id: String,
    pub name: String,
    /// Mainland mobile number, `1[3-9]` and nine more digits.
    pub phone: String,
    pub gender: Gender,
    /// `YYYY-MM-DD`, the same date as digits 7–14 of the id.
    pub birth_date: String,
    /// Six-digit administrative division code, digits 1–6 of the id.
    pub area_code: String,
    /// Name of the division, e.g. `重庆市渝中区`.
    pub area_name: String,
}

impl Citizen {
    /// The birth date as a [`Date`].
    pub(crate) fn birth(&self) -> Date {
        Date::parse(&self.birth_date).unwrap_or(Date {
            year: 1970,
            month: 1,
            day: 1,
        })
    }

    /// Age in whole years on the simulated "today".
    pub(crate) fn age(&self) -> i32 {
        self.birth().years_until(data::TODAY)
    }
}

/// Generates `n` distinct citizens from `seed`; the same arguments always
/// give the same citizens, and `generate(seed, n)` is a prefix of
/// `generate(seed, n + k)`.
pub fn generate(seed: u64, n: usize) -> Vec<Citizen> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let first_day = Date {
        year: 1950,
        month: 1,
        day: 1,
    }
    .to_days();
    let last_day = Date {
        year: 2015,
        month: 12,
        day: 31,
    }
    .to_days();

    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (area_code, area_name) = *data::pick(&mut rng, AREAS);
        let birth = Date::from_days(rng.random_range(first_day..=last_day));
        let sequence: u32 = rng.random_range(0..1000);
        let first17 = format!("{area_code}{}{sequence:03}", birth.compact());
        let Some(check) = check_digit(&first17) else {
            continue;
        };
        let id = format!("{first17}{check}");
        let gender = if sequence % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        };
        let name = random_name(&mut rng, gender);
        let phone = format!(
            "{}{:08}",
            data::pick(&mut rng, MOBILE_PREFIXES),
            rng.random_range(0..100_000_000u32)
        );
        if !seen.insert(id.clone()) {
            continue;
        }
        out.push(Citizen {
            id,
            name,
            phone,
            gender,
            birth_date: birth.to_string(),
            area_code: area_code.to_owned(),
            area_name: area_name.to_owned(),
        });
    }
    out
}

/// A name as citizens get them: a surname and one or two given characters.
pub(crate) fn random_name(rng: &mut impl Rng, gender: Gender) -> String {
    let given = match gender {
        Gender::Male => GIVEN_MALE,
        Gender::Female => GIVEN_FEMALE,
    };
    let mut name = String::from(*data::pick(rng, SURNAMES));
    name.push_str(data::pick::<&str>(rng, given));
    if rng.random_bool(0.6) {
        name.push_str(data::pick::<&str>(rng, given));
    }
    name
}

/// The surname of a generated name: a compound surname (`欧阳`) when the
/// name starts with one, else its first character.
pub(crate) fn surname(name: &str) -> &str {
    let compound = SURNAMES
        .iter()
        .copied()
        .find(|s| s.chars().count() > 1 && name.starts_with(s));
    match compound {
        Some(s) => s,
        None => name
            .char_indices()
            .nth(1)
            .map_or(name, |(at, _)| &name[..at]),
    }
}

/// The GB 11643-1999 check character for the first 17 digits of a resident
/// ID, or `None` unless `first17` is exactly 17 ASCII digits.
pub fn check_digit(first17: &str) -> Option<char> {
    if first17.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (c, w) in first17.chars().zip(WEIGHTS) {
        sum += c.to_digit(10)? * w;
    }
    Some(CHECK_CHARS[(sum % 11) as usize])
}

/// Whether `s` is a well-formed 18-character resident ID: 17 digits whose
/// digits 7–14 are a real date, followed by the right check character
/// (an upper-case `X` for 10).
pub fn is_valid_resident_id(s: &str) -> bool {
    if s.len() != 18 || !s.is_ascii() {
        return false;
    }
    let (first17, last) = s.split_at(17);
    let date_ok = match (
        first17[6..10].parse(),
        first17[10..12].parse(),
        first17[12..14].parse(),
    ) {
        (Ok(y), Ok(m), Ok(d)) => Date::new(y, m, d).is_some(),
        _ => false,
    };
    date_ok && check_digit(first17).is_some_and(|c| last.starts_with(c))
}

/// Whether department `dept` holds data on the citizen at `index` (in
/// generation order) with id `id`: the first [`KNOWN_EVERYWHERE`] citizens
/// are known everywhere, the others to each department with a deterministic
/// ~85 % chance.
pub fn known_to(seed: u64, dept: &str, index: usize, id: &str) -> bool {
    index < KNOWN_EVERYWHERE
        || data::stable_hash(seed, &["known", dept, id]) % 1000 < KNOWN_PER_MILLE
}

/// The generated citizens with an index by id.
#[derive(Debug)]
pub(crate) struct Population {
    seed: u64,
    citizens: Vec<Citizen>,
    by_id: HashMap<String, usize>,
}

impl Population {
    pub fn new(seed: u64, n: usize) -> Population {
        let citizens = generate(seed, n);
        let by_id = citizens
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        Population {
            seed,
            citizens,
            by_id,
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn all(&self) -> &[Citizen] {
        &self.citizens
    }

    /// The citizen with this id when department `dept` holds data on them.
    pub fn lookup(&self, dept: &str, id: &str) -> Option<&Citizen> {
        let &index = self.by_id.get(id)?;
        let citizen = &self.citizens[index];
        known_to(self.seed, dept, index, id).then_some(citizen)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn check_digit_matches_known_ids() {
        assert_eq!(check_digit("11010519491231002"), Some('X'));
        assert!(is_valid_resident_id("11010519491231002X"));
        // The GB 11643 worked example.
        assert!(is_valid_resident_id("440524188001010014"));
        assert!(!is_valid_resident_id("110105194912310021"));
        assert!(!is_valid_resident_id("11010519491231002x"));
        assert!(!is_valid_resident_id("11010519491331002X"), "month 13");
        assert!(!is_valid_resident_id("1101051949123100"));
        assert_eq!(check_digit("1101051949123100A"), None);
        assert_eq!(check_digit("110105194912310"), None);
    }

    #[test]
    fn generation_is_deterministic_and_prefix_stable() {
        let a = generate(20261122, 200);
        assert_eq!(a, generate(20261122, 200));
        assert_eq!(a[..50], generate(20261122, 50)[..]);
        assert_ne!(a, generate(7, 200));
    }

    #[test]
    fn generated_citizens_are_unique_and_valid() {
        let all = generate(20261122, 2000);
        let ids: HashSet<_> = all.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), all.len());
        for c in &all {
            assert!(is_valid_resident_id(&c.id), "{}", c.id);
            assert_eq!(&c.id[..6], c.area_code);
            assert_eq!(c.id[6..14], c.birth_date.replace('-', ""));
            assert!((1950..=2015).contains(&c.birth().year));
            let sex_digit = c.id[16..17].parse::<u32>().unwrap();
            assert_eq!(c.gender == Gender::Male, sex_digit % 2 == 1);
            assert_eq!(c.phone.len(), 11);
            assert!(c.phone.starts_with('1'));
            assert!(matches!(c.phone.as_bytes()[1], b'3'..=b'9'));
            assert!(c.phone.bytes().all(|b| b.is_ascii_digit()));
            assert!(c.name.chars().count() >= 2);
        }
    }

    #[test]
    fn departments_know_most_citizens() {
        let pop = Population::new(1, 2000);
        for c in &pop.all()[..KNOWN_EVERYWHERE] {
            assert!(pop.lookup("gas", &c.id).is_some());
        }
        let known = pop
            .all()
            .iter()
            .filter(|c| pop.lookup("gas", &c.id).is_some())
            .count();
        assert!((1600..=1800).contains(&known), "{known} of 2000");
        // Different departments know different people.
        let differ = pop
            .all()
            .iter()
            .any(|c| pop.lookup("gas", &c.id).is_some() != pop.lookup("water", &c.id).is_some());
        assert!(differ);
        assert!(pop.lookup("gas", "11010519491231002X").is_none());
    }
}
