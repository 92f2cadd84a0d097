//! The demo data catalog: records HTTP departments hold on citizens and may
//! share through the gateway (its `[[data_items]]`). Each item is served by
//! a query matter `data-<item>` at `GET /api/v1/depts/{dept}/data/<item>/{citizen}`
//! (the item id with `-` for `_`), with the usual citizen checks.
//!
//! A document carries every declared field with its declared JSON type
//! (dates as `YYYY-MM-DD`, never `null`) and also members that are not
//! declared (`source_system`, `internal_note`, …, and `citizen_id` like
//! every query document), which the gateway's field filter must drop.
//! Values agree with the department's other matters where they overlap:
//! the employer and base of `contributions`, the account of `account`,
//! the status of `marriage`, the address of `household`; a married
//! citizen's household head, when it is the spouse, is the one civil
//! affairs registered.

use serde_json::{Value, json};

use super::{
    doc::Doc,
    matters::{self, QueryFn},
};
use crate::{
    citizens::{self, Gender},
    data::{Date, TODAY},
    manifest::{
        DataFieldManifest, DataItemManifest, FieldType,
        FieldType::{Boolean, Date as DateT, Integer, Number, String as Str},
        MaskKind, Sensitivity,
        Sensitivity::{Internal, Personal, Public},
        SharingClass,
    },
};

/// One declared field of a data item.
pub(crate) struct FieldDef {
    pub name: &'static str,
    pub kind: FieldType,
    pub sensitivity: Sensitivity,
    pub mask: Option<MaskKind>,
}

/// A field that is not sensitive (so never masked).
const fn plain(name: &'static str, kind: FieldType, sensitivity: Sensitivity) -> FieldDef {
    FieldDef {
        name,
        kind,
        sensitivity,
        mask: None,
    }
}

/// A sensitive field and how it is masked.
const fn sensitive(name: &'static str, kind: FieldType, mask: MaskKind) -> FieldDef {
    FieldDef {
        name,
        kind,
        sensitivity: Sensitivity::Sensitive,
        mask: Some(mask),
    }
}

/// A data item of the demo catalog and the matter that serves it.
pub(crate) struct DataItemDef {
    /// The item id, e.g. `social_insurance`.
    pub id: &'static str,
    /// The id of the matter serving it: `data-` and the id with `-` for `_`.
    pub matter: &'static str,
    /// Below `/api/v1/depts/{dept}/`: `data/<id with dashes>/{citizen}`.
    pub route: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub sharing: SharingClass,
    pub provider_approval: bool,
    pub fields: &'static [FieldDef],
    pub build: QueryFn,
}

impl DataItemDef {
    /// The item as department `dept` lists it in its manifest.
    pub fn manifest(&self, dept: &str) -> DataItemManifest {
        DataItemManifest {
            id: self.id.to_owned(),
            name: self.name.to_owned(),
            description: self.description.to_owned(),
            sharing: self.sharing,
            provider_approval: self.provider_approval,
            fetch: format!("/api/v1/depts/{dept}/{}", self.route),
            fields: self
                .fields
                .iter()
                .map(|f| DataFieldManifest {
                    name: f.name.to_owned(),
                    kind: f.kind,
                    sensitivity: f.sensitivity,
                    mask: f.mask,
                })
                .collect(),
        }
    }
}

/// hrss: what the citizen's social insurance record says.
pub(crate) const SOCIAL_INSURANCE: DataItemDef = DataItemDef {
    id: "social_insurance",
    matter: "data-social-insurance",
    route: "data/social-insurance/{citizen}",
    name: "社会保险参保缴费记录",
    description: "参保单位、累计缴费月数、缴费基数、最近缴费期与社保卡金融账户",
    sharing: SharingClass::Conditional,
    provider_approval: false,
    fields: &[
        sensitive("resident_id", Str, MaskKind::ResidentId),
        plain("name", Str, Personal),
        plain("employer", Str, Personal),
        plain("contribution_months", Integer, Internal),
        plain("monthly_base", Number, Personal),
        plain("last_paid_period", Str, Internal),
        sensitive("bank_card", Str, MaskKind::BankCard),
        sensitive("phone", Str, MaskKind::Phone),
    ],
    build: social_insurance,
};

/// hrss: whether the citizen is insured, without anything personal.
pub(crate) const INSURED_STATUS: DataItemDef = DataItemDef {
    id: "insured_status",
    matter: "data-insured-status",
    route: "data/insured-status/{citizen}",
    name: "社会保险参保状态",
    description: "是否参保、参保险种与参保起始日期",
    sharing: SharingClass::Unconditional,
    provider_approval: false,
    fields: &[
        plain("insured", Boolean, Internal),
        plain("scheme", Str, Public),
        plain("since", DateT, Internal),
    ],
    build: insured_status,
};

/// hpf: the provident fund account (shared only with the centre's approval).
pub(crate) const HPF_ACCOUNT: DataItemDef = DataItemDef {
    id: "account",
    matter: "data-account",
    route: "data/account/{citizen}",
    name: "住房公积金账户信息",
    description: "公积金账号、账户余额、月缴存额与账户状态",
    sharing: SharingClass::Conditional,
    provider_approval: true,
    fields: &[
        sensitive("resident_id", Str, MaskKind::ResidentId),
        sensitive("name", Str, MaskKind::Name),
        sensitive("account_no", Str, MaskKind::Full),
        plain("balance", Number, Personal),
        plain("monthly_deposit", Number, Personal),
        plain("status", Str, Internal),
    ],
    build: hpf_account,
};

/// civil: the marriage registry's record.
pub(crate) const MARITAL_STATUS: DataItemDef = DataItemDef {
    id: "marital_status",
    matter: "data-marital-status",
    route: "data/marital-status/{citizen}",
    name: "婚姻登记信息",
    description: "婚姻状况、登记日期与配偶姓名（未婚者登记日期为出生日期，配偶姓名为空）",
    sharing: SharingClass::Conditional,
    provider_approval: false,
    fields: &[
        sensitive("resident_id", Str, MaskKind::ResidentId),
        plain("name", Str, Personal),
        plain("status", Str, Personal),
        plain("registered_on", DateT, Personal),
        sensitive("spouse_name", Str, MaskKind::Name),
    ],
    build: marital_status,
};

/// police: the household registration.
pub(crate) const HOUSEHOLD: DataItemDef = DataItemDef {
    id: "household",
    matter: "data-household",
    route: "data/household/{citizen}",
    name: "户籍登记信息",
    description: "户籍地址、户主姓名与登记的联系电话",
    sharing: SharingClass::Conditional,
    provider_approval: false,
    fields: &[
        sensitive("resident_id", Str, MaskKind::ResidentId),
        plain("name", Str, Personal),
        sensitive("address", Str, MaskKind::Address),
        sensitive("household_head", Str, MaskKind::Name),
        sensitive("phone", Str, MaskKind::Phone),
    ],
    build: household,
};

/// police: never shared, only the citizen reads it.
pub(crate) const CRIMINAL_RECORD: DataItemDef = DataItemDef {
    id: "criminal_record",
    matter: "data-criminal-record",
    route: "data/criminal-record/{citizen}",
    name: "违法犯罪记录",
    description: "有无违法犯罪记录（不共享，仅本人查询）",
    sharing: SharingClass::NotShared,
    provider_approval: false,
    fields: &[
        sensitive("resident_id", Str, MaskKind::ResidentId),
        sensitive("has_record", Boolean, MaskKind::Full),
    ],
    build: criminal_record,
};

// ---------------------------------------------------------------------------
// Documents

/// Yuan with two decimals, from fen.
#[allow(clippy::cast_precision_loss)] // amounts stay far below 2^53 fen
fn yuan(fen: i64) -> f64 {
    fen as f64 / 100.0
}

/// Issuer prefixes (BIN) of debit cards and their full lengths.
const CARD_BINS: &[(&str, usize)] = &[
    ("622202", 19), // 中国工商银行
    ("621700", 19), // 中国建设银行
    ("622848", 19), // 中国农业银行
    ("621661", 19), // 中国银行
    ("623668", 19), // 重庆农村商业银行
    ("622588", 16), // 招商银行
];

/// A debit card number: a real issuer prefix, random digits and a valid
/// Luhn check digit, 16 or 19 digits in all.
fn bank_card(d: &mut Doc<'_>) -> String {
    let (bin, len) = d.pick(CARD_BINS);
    let body = format!("{bin}{}", d.digits(len - bin.len() - 1));
    let check = luhn_check_digit(&body);
    format!("{body}{check}")
}

/// The digit that makes `body` followed by it pass the Luhn check.
fn luhn_check_digit(body: &str) -> char {
    let sum: u32 = body
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, v)| match (i % 2 == 0, v * 2) {
            (true, twice) if twice > 9 => twice - 9,
            (true, twice) => twice,
            (false, _) => v,
        })
        .sum();
    char::from_digit((10 - sum % 10) % 10, 10).unwrap_or('0')
}

fn opposite(gender: Gender) -> Gender {
    match gender {
        Gender::Male => Gender::Female,
        Gender::Female => Gender::Male,
    }
}

/// A string member of a sibling matter's document.
fn text(doc: &Value, key: &str) -> Option<String> {
    doc.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn social_insurance(d: &mut Doc<'_>) -> Value {
    let c = d.citizen;
    let (employer, months, base_fen, last_paid) = if c.age() >= 18 {
        let job = matters::hrss_employment(&mut d.sibling("contributions"));
        (
            job.employer,
            job.paid_months,
            job.base_fen,
            TODAY.months_back(0).period(),
        )
    } else {
        // Minors are insured with their guardian, paid once a year.
        (
            "无（随监护人参加城乡居民医保）",
            0,
            0,
            format!("{}-01", TODAY.year),
        )
    };
    json!({
        "resident_id": c.id,
        "name": c.name,
        "employer": employer,
        "contribution_months": months,
        "monthly_base": yuan(base_fen),
        "last_paid_period": last_paid,
        "bank_card": bank_card(d),
        "phone": c.phone,
        "card_status": "正常",
        "source_system": "人社一体化信息平台",
        "internal_note": format!("缴费基数按{}年度社平工资核定", TODAY.year - 1),
    })
}

fn insured_status(d: &mut Doc<'_>) -> Value {
    let c = d.citizen;
    let (scheme, since) = if c.age() >= 18 {
        let job = matters::hrss_employment(&mut d.sibling("contributions"));
        let scheme = if job.employer == "灵活就业人员" {
            "城镇职工基本养老保险（灵活就业）"
        } else {
            "城镇职工基本养老保险"
        };
        (scheme, format!("{}-01", job.since))
    } else {
        ("城乡居民基本医疗保险", c.birth_date.clone())
    };
    json!({
        "insured": true,
        "scheme": scheme,
        "since": since,
        "source_system": "人社一体化信息平台",
        "internal_note": "参保状态每日同步",
    })
}

fn hpf_account(d: &mut Doc<'_>) -> Value {
    let c = d.citizen;
    let account = matters::hpf_account(&mut d.sibling("account"));
    let fen = |key: &str| account.get(key).and_then(Value::as_i64).unwrap_or(0);
    let account_no =
        text(&account, "account_no").unwrap_or_else(|| format!("{}{}", c.area_code, d.digits(10)));
    json!({
        "resident_id": c.id,
        "name": c.name,
        "account_no": account_no,
        "balance": yuan(fen("balance_fen")),
        "monthly_deposit": yuan(fen("monthly_deposit_fen")),
        "status": text(&account, "status").unwrap_or_else(|| "正常缴存".to_owned()),
        "employer": account.get("employer").cloned().unwrap_or(Value::Null),
        "opened_on": account.get("opened_on").cloned().unwrap_or(Value::Null),
        "source_system": "住房公积金综合服务平台",
        "internal_note": "余额为上一工作日日终数",
    })
}

fn marital_status(d: &mut Doc<'_>) -> Value {
    let c = d.citizen;
    let marriage = matters::civil_marriage(&mut d.sibling("marriage"));
    let status = text(&marriage, "marital_status").unwrap_or_else(|| "未婚".to_owned());
    // A registration this year may be drawn after "today": not yet.
    let registered_on = text(&marriage, "registered_on")
        .and_then(|s| Date::parse(&s))
        .map_or_else(|| c.birth_date.clone(), |day| day.min(TODAY).to_string());
    let spouse_name = if status == "未婚" {
        String::new()
    } else {
        citizens::random_name(&mut d.rng, opposite(c.gender))
    };
    json!({
        "resident_id": c.id,
        "name": c.name,
        "status": status,
        "registered_on": registered_on,
        "spouse_name": spouse_name,
        "registry_office": marriage.get("registry_office").cloned().unwrap_or(Value::Null),
        "source_system": "全国婚姻登记信息系统",
        "internal_note": "以婚姻登记机关最近一次登记为准",
    })
}

fn household(d: &mut Doc<'_>) -> Value {
    let c = d.citizen;
    let record = matters::police_household(&mut d.sibling("household"));
    let relation = text(&record, "relation_to_head").unwrap_or_else(|| "户主".to_owned());
    let head = match relation.as_str() {
        "户主" => c.name.clone(),
        // A child's household is headed by a parent of the same surname.
        "子女" => {
            let parent = citizens::random_name(&mut d.rng, Gender::Male);
            let given = parent
                .strip_prefix(citizens::surname(&parent))
                .unwrap_or(&parent);
            format!("{}{given}", citizens::surname(&c.name))
        }
        // The spouse the marriage registry knows, when it knows one.
        _ => {
            let civil = marital_status(&mut Doc::new(d.pop, "civil", MARITAL_STATUS.matter, c));
            match (
                text(&civil, "status").as_deref(),
                text(&civil, "spouse_name"),
            ) {
                (Some("已婚"), Some(spouse)) if !spouse.is_empty() => spouse,
                _ => citizens::random_name(&mut d.rng, opposite(c.gender)),
            }
        }
    };
    let address = text(&record, "address").unwrap_or_else(|| d.address());
    json!({
        "resident_id": c.id,
        "name": c.name,
        "address": address,
        "household_head": head,
        "phone": c.phone,
        "relation_to_head": relation,
        "household_no": record.get("household_no").cloned().unwrap_or(Value::Null),
        "police_station": record.get("police_station").cloned().unwrap_or(Value::Null),
        "source_system": "全国人口信息管理系统",
        "internal_note": "联系电话为户籍登记时预留",
    })
}

fn criminal_record(d: &mut Doc<'_>) -> Value {
    json!({
        "resident_id": d.citizen.id,
        "has_record": d.chance(0.03),
        "checked_on": TODAY.to_string(),
        "source_system": "公安违法犯罪信息系统",
        "internal_note": "不予共享，仅供本人查询",
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::{
        catalog::{self, DEPARTMENTS},
        citizens::Population,
        http::{document, matters::Action},
    };

    #[test]
    fn luhn_check_digits() {
        // Well-known test numbers.
        assert_eq!(luhn_check_digit("7992739871"), '3');
        assert_eq!(luhn_check_digit("411111111111111"), '1');
    }

    #[test]
    fn the_catalog_has_six_items_served_by_their_matters() {
        let items = catalog::data_items();
        let ids: Vec<String> = items
            .iter()
            .map(|i| format!("{}.{}", i.dept, i.item.id))
            .collect();
        assert_eq!(
            ids,
            [
                "hrss.social_insurance",
                "hrss.insured_status",
                "hpf.account",
                "civil.marital_status",
                "police.household",
                "police.criminal_record",
            ]
        );
        for entry in &items {
            let (dept, item) = (entry.dept, &entry.item);
            let dashed = item.id.replace('_', "-");
            assert_eq!(
                item.fetch,
                format!("/api/v1/depts/{dept}/data/{dashed}/{{citizen}}")
            );
            let serving: Vec<_> = matters::matters(dept)
                .iter()
                .filter(|m| m.data_item.is_some_and(|d| d.id == item.id))
                .collect();
            assert_eq!(serving.len(), 1, "{dept}.{}", item.id);
            assert_eq!(serving[0].id, format!("data-{dashed}"));
            assert_eq!(serving[0].route, format!("data/{dashed}/{{citizen}}"));
            assert!(matches!(serving[0].action, Action::Query(_)));
            // What the gateway's validation insists on.
            assert!(!item.fields.is_empty());
            let names: HashSet<_> = item.fields.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(names.len(), item.fields.len(), "{}", item.id);
            for f in &item.fields {
                assert_eq!(
                    f.mask.is_some(),
                    f.sensitivity == Sensitivity::Sensitive,
                    "{}.{}",
                    item.id,
                    f.name
                );
            }
            if item.sharing == SharingClass::Unconditional {
                assert!(
                    item.fields.iter().all(|f| !f.sensitivity.personal()),
                    "{}",
                    item.id
                );
            }
        }
        let social = &items[0].item;
        assert_eq!(social.fields.len(), 8);
        assert!(items[2].item.provider_approval);
        assert_eq!(items[5].item.sharing, SharingClass::NotShared);
    }

    #[test]
    fn documents_carry_every_declared_field_and_more() {
        let pop = Population::new(20261122, 400);
        for entry in catalog::data_items() {
            let dept = DEPARTMENTS.iter().find(|d| d.id == entry.dept).unwrap();
            let matter = matters::matters(dept.id)
                .iter()
                .find(|m| m.data_item.is_some_and(|d| d.id == entry.item.id))
                .unwrap();
            let Action::Query(build) = matter.action else {
                panic!("{} is not a query", matter.id);
            };
            let known: Vec<_> = pop
                .all()
                .iter()
                .filter(|c| pop.lookup(dept.id, &c.id).is_some())
                .collect();
            assert!(known.len() > 300, "{}: {}", dept.id, known.len());
            for citizen in known {
                let doc = document(&pop, dept.id, matter, build, citizen);
                let what = format!("{}.{} for {}: {doc}", dept.id, entry.item.id, citizen.id);
                let obj = doc.as_object().unwrap();
                for field in &entry.item.fields {
                    let value = obj.get(&field.name);
                    assert!(
                        value.is_some_and(|v| field.kind.admits(v)),
                        "{what}: {} is not a {}",
                        field.name,
                        field.kind.as_str()
                    );
                }
                // Every item but `insured_status` names the citizen.
                if entry.item.fields.iter().any(|f| f.name == "resident_id") {
                    assert_eq!(obj["resident_id"], citizen.id.as_str(), "{what}");
                } else {
                    assert_eq!(entry.item.id, "insured_status");
                }
                assert_eq!(obj["citizen_id"], citizen.id.as_str(), "{what}");
                let undeclared = obj
                    .keys()
                    .filter(|k| !entry.item.fields.iter().any(|f| &f.name == *k))
                    .count();
                assert!(undeclared >= 2, "{what}");
                assert!(obj.contains_key("source_system"), "{what}");
                assert_eq!(
                    doc,
                    document(&pop, dept.id, matter, build, citizen),
                    "deterministic"
                );
                match entry.item.id.as_str() {
                    "social_insurance" => {
                        let card = obj["bank_card"].as_str().unwrap();
                        assert!((16..=19).contains(&card.len()), "{what}");
                        assert!(card.bytes().all(|b| b.is_ascii_digit()), "{what}");
                        let (body, check) = card.split_at(card.len() - 1);
                        assert_eq!(check.chars().next(), Some(luhn_check_digit(body)));
                        assert_eq!(obj["phone"], citizen.phone.as_str());
                        assert_eq!(obj["name"], citizen.name.as_str());
                    }
                    "household" => {
                        let address = obj["address"].as_str().unwrap();
                        assert!(address.starts_with(&citizen.area_name), "{what}");
                        assert_eq!(obj["phone"], citizen.phone.as_str());
                    }
                    "marital_status" => {
                        let unmarried = obj["status"] == "未婚";
                        assert_eq!(obj["spouse_name"] == "", unmarried, "{what}");
                        let on = Date::parse(obj["registered_on"].as_str().unwrap()).unwrap();
                        assert!(on <= TODAY && on >= citizen.birth(), "{what}");
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn documents_agree_with_the_other_matters() {
        let pop = Population::new(7, 200);
        let mut spouses = 0;
        for citizen in pop.all() {
            let account = matters::hpf_account(&mut Doc::new(&pop, "hpf", "account", citizen));
            let item = hpf_account(&mut Doc::new(&pop, "hpf", "data-account", citizen));
            assert_eq!(item["account_no"], account["account_no"]);
            assert_eq!(
                item["balance"].as_f64().unwrap(),
                yuan(account["balance_fen"].as_i64().unwrap())
            );
            let record =
                matters::police_household(&mut Doc::new(&pop, "police", "household", citizen));
            let item = household(&mut Doc::new(&pop, "police", "data-household", citizen));
            assert_eq!(item["address"], record["address"]);
            if record["relation_to_head"] == "户主" {
                assert_eq!(item["household_head"], citizen.name.as_str());
            }
            let civil =
                marital_status(&mut Doc::new(&pop, "civil", "data-marital-status", citizen));
            if record["relation_to_head"] == "配偶" && civil["status"] == "已婚" {
                assert_eq!(item["household_head"], civil["spouse_name"]);
                spouses += 1;
            }
        }
        assert!(spouses > 0);
    }
}
