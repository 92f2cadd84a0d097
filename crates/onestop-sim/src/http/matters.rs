//! What every HTTP department offers: its matters (事项) and the documents
//! they answer with. Every document is derived from (seed, department,
//! matter, citizen); submissions are validated against those documents
//! (a payment must name one of the citizen's unpaid bills) but change nothing.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use super::{ApiError, data_items, data_items::DataItemDef, doc::Doc};
use crate::data::{self, BANKS, TODAY};

/// Builds a citizen's document.
pub(crate) type QueryFn = fn(&mut Doc<'_>) -> Value;
/// Builds a citizen-less public document from a department-wide generator.
pub(crate) type PublicFn = fn(&mut ChaCha8Rng) -> Value;
/// Handles a submission (`body` is the JSON object, `receipt` a fresh
/// receipt number) and answers the 201 document.
pub(crate) type SubmitFn = fn(&mut Doc<'_>, &Map<String, Value>, &str) -> Result<Value, ApiError>;
/// The body of a submission that succeeds for the document's citizen
/// (without the `citizen` field, which the caller adds).
pub(crate) type ExampleFn = fn(&mut Doc<'_>) -> Value;

/// How a matter is called.
pub(crate) enum Action {
    /// `GET /api/v1/depts/{dept}/{route}` where the route ends in `{citizen}`.
    Query(QueryFn),
    /// `GET /api/v1/depts/{dept}/{route}`, no citizen involved.
    Public(PublicFn),
    /// `POST /api/v1/depts/{dept}/{route}` with a JSON object naming the
    /// `citizen` and carrying the `required` fields; answers 201.
    Submit {
        required: &'static [&'static str],
        handle: SubmitFn,
        example: ExampleFn,
    },
}

/// One matter of an HTTP department.
pub(crate) struct HttpMatter {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// Path below `/api/v1/depts/{dept}/`, in axum syntax.
    pub route: &'static str,
    pub action: Action,
    /// The data item this (query) matter serves, if any.
    pub data_item: Option<&'static DataItemDef>,
}

const fn query(
    id: &'static str,
    name: &'static str,
    description: &'static str,
    route: &'static str,
    build: QueryFn,
) -> HttpMatter {
    HttpMatter {
        id,
        name,
        description,
        route,
        action: Action::Query(build),
        data_item: None,
    }
}

const fn public(
    id: &'static str,
    name: &'static str,
    description: &'static str,
    route: &'static str,
    build: PublicFn,
) -> HttpMatter {
    HttpMatter {
        id,
        name,
        description,
        route,
        action: Action::Public(build),
        data_item: None,
    }
}

const fn submit(
    id: &'static str,
    name: &'static str,
    description: &'static str,
    route: &'static str,
    required: &'static [&'static str],
    handle: SubmitFn,
    example: ExampleFn,
) -> HttpMatter {
    HttpMatter {
        id,
        name,
        description,
        route,
        action: Action::Submit {
            required,
            handle,
            example,
        },
        data_item: None,
    }
}

/// The query matter that serves a data item: `GET {item.route}`.
const fn data(item: &'static DataItemDef) -> HttpMatter {
    HttpMatter {
        id: item.matter,
        name: item.name,
        description: item.description,
        route: item.route,
        action: Action::Query(item.build),
        data_item: Some(item),
    }
}

/// The matters of an HTTP department (empty for unknown ids).
pub(crate) fn matters(dept: &str) -> &'static [HttpMatter] {
    match dept {
        "hrss" => HRSS,
        "hpf" => HPF,
        "water" => WATER,
        "power" => POWER,
        "gas" => GAS,
        "civil" => CIVIL,
        "edu" => EDU,
        "market" => MARKET,
        "police" => POLICE,
        "transport" => TRANSPORT,
        "housing" => HOUSING,
        "nature" => NATURE,
        "ecology" => ECOLOGY,
        "culture" => CULTURE,
        "sports" => SPORTS,
        "veterans" => VETERANS,
        "disabled" => DISABLED,
        "court" => COURT,
        "procurator" => PROCURATOR,
        "notary" => NOTARY,
        "archives" => ARCHIVES,
        "stats" => STATS,
        "agri" => AGRI,
        "commerce" => COMMERCE,
        "science" => SCIENCE,
        "emergency" => EMERGENCY,
        "weather" => WEATHER,
        "postal" => POSTAL,
        _ => &[],
    }
}

// ---------------------------------------------------------------------------
// Catalogue

const HRSS: &[HttpMatter] = &[
    query(
        "contributions",
        "社会保险缴费记录查询",
        "近六个月养老、医疗、失业、工伤保险缴费明细",
        "contributions/{citizen}",
        hrss_contributions,
    ),
    query(
        "pension",
        "养老金领取信息查询",
        "养老金领取状态、月领取金额或预估金额",
        "pensions/{citizen}",
        hrss_pension,
    ),
    submit(
        "certificate",
        "社会保险参保证明开具",
        "开具带验证码的参保缴费证明",
        "certificates",
        &["purpose"],
        accepted,
        |_| json!({"purpose": "购房资格审核"}),
    ),
    public(
        "notices",
        "人社政策公告",
        "最新人力资源和社会保障政策公告",
        "notices",
        |rng| notices(rng, "RS", HRSS_NOTICES),
    ),
    data(&data_items::SOCIAL_INSURANCE),
    data(&data_items::INSURED_STATUS),
];

const HPF: &[HttpMatter] = &[
    query(
        "account",
        "住房公积金账户查询",
        "公积金余额、月缴存额、缴存单位",
        "accounts/{citizen}",
        hpf_account,
    ),
    query(
        "loan",
        "住房公积金贷款查询",
        "公积金贷款余额、月还款额、下次还款日",
        "loans/{citizen}",
        hpf_loan,
    ),
    submit(
        "withdrawal",
        "住房公积金提取申请",
        "按租房、购房、还贷或退休提取公积金",
        "withdrawals",
        &["reason", "amount_fen"],
        hpf_withdraw,
        |d| json!({"reason": "租房", "amount_fen": hpf_balance(&mut d.sibling("account")).min(150_000)}),
    ),
    data(&data_items::HPF_ACCOUNT),
];

const WATER: &[HttpMatter] = &[
    query(
        "bills",
        "水费账单查询",
        "近六个月用水量与水费账单",
        "bills/{citizen}",
        bills_doc,
    ),
    submit(
        "payment",
        "水费缴纳",
        "缴纳一期未缴水费",
        "payments",
        &["bill_id", "amount_fen"],
        pay_bill,
        payment_example,
    ),
    public(
        "notices",
        "停水通知",
        "计划停水与管网施工公告",
        "notices",
        |rng| notices(rng, "TS", WATER_NOTICES),
    ),
];

const POWER: &[HttpMatter] = &[
    query(
        "bills",
        "电费账单查询",
        "近六个月用电量与电费账单（阶梯电价）",
        "bills/{citizen}",
        bills_doc,
    ),
    submit(
        "payment",
        "电费缴纳",
        "缴纳一期未缴电费",
        "payments",
        &["bill_id", "amount_fen"],
        pay_bill,
        payment_example,
    ),
    public(
        "outages",
        "计划停电公告",
        "检修停电计划",
        "outages",
        |rng| notices(rng, "TD", POWER_NOTICES),
    ),
];

const GAS: &[HttpMatter] = &[
    query(
        "bills",
        "燃气费账单查询",
        "近六个月用气量与燃气费账单",
        "bills/{citizen}",
        bills_doc,
    ),
    submit(
        "payment",
        "燃气费缴纳",
        "缴纳一期未缴燃气费",
        "payments",
        &["bill_id", "amount_fen"],
        pay_bill,
        payment_example,
    ),
];

const CIVIL: &[HttpMatter] = &[
    query(
        "marriage",
        "婚姻登记信息查询",
        "本人婚姻登记状态与登记机关",
        "marriage/{citizen}",
        civil_marriage,
    ),
    submit(
        "marriage-appointment",
        "婚姻登记预约",
        "预约结婚登记办理时段",
        "marriage-appointments",
        &["partner_id", "date"],
        civil_appointment,
        |d| {
            let partner = d
                .pop
                .all()
                .iter()
                .find(|c| c.id != d.citizen.id)
                .map_or("11010519491231002X", |c| c.id.as_str());
            json!({"partner_id": partner, "date": TODAY.add_days(7).to_string()})
        },
    ),
    query(
        "subsidies",
        "社会救助补贴查询",
        "低保、高龄津贴、临时救助发放情况",
        "subsidies/{citizen}",
        civil_subsidies,
    ),
    data(&data_items::MARITAL_STATUS),
];

const EDU: &[HttpMatter] = &[
    query(
        "enrolment",
        "义务教育入学信息查询",
        "学籍、就读学校与年级",
        "enrolments/{citizen}",
        edu_enrolment,
    ),
    public(
        "schools",
        "学校名录",
        "义务教育阶段公办学校及招生范围",
        "schools",
        edu_schools,
    ),
];

const MARKET: &[HttpMatter] = &[
    query(
        "licences",
        "营业执照信息查询",
        "本人担任法定代表人或经营者的市场主体",
        "licences/{citizen}",
        market_licences,
    ),
    submit(
        "complaint",
        "消费投诉登记",
        "向市场监管部门登记消费投诉",
        "complaints",
        &["merchant", "content"],
        accepted,
        |_| json!({"merchant": "重庆某某超市有限公司", "content": "商品过期仍在销售"}),
    ),
];

const POLICE: &[HttpMatter] = &[
    query(
        "household",
        "户籍信息查询",
        "户籍所在地、户号、与户主关系",
        "households/{citizen}",
        police_household,
    ),
    query(
        "id-card",
        "居民身份证办理进度",
        "身份证有效期与换领、补领进度",
        "id-cards/{citizen}",
        police_id_card,
    ),
    submit(
        "residence-certificate",
        "户籍证明开具",
        "开具户籍证明（电子）",
        "residence-certificates",
        &["purpose"],
        accepted,
        |_| json!({"purpose": "子女入学"}),
    ),
    data(&data_items::HOUSEHOLD),
    data(&data_items::CRIMINAL_RECORD),
];

const TRANSPORT: &[HttpMatter] = &[
    query(
        "transit-card",
        "交通卡信息查询",
        "交通卡余额与近期乘车记录",
        "transit-cards/{citizen}",
        transport_card,
    ),
    submit(
        "topup",
        "交通卡充值",
        "为本人交通卡充值（1–1000 元）",
        "transit-card-topups",
        &["amount_fen"],
        transport_topup,
        |_| json!({"amount_fen": 5000}),
    ),
    public(
        "notices",
        "公交线路调整公告",
        "线路开通、调整与临时绕行",
        "notices",
        |rng| notices(rng, "JT", TRANSPORT_NOTICES),
    ),
];

const HOUSING: &[HttpMatter] = &[
    query(
        "properties",
        "不动产登记信息查询",
        "本人名下不动产权证与抵押状态",
        "properties/{citizen}",
        housing_properties,
    ),
    public(
        "presale-permits",
        "商品房预售许可公示",
        "近期核发的商品房预售许可",
        "presale-permits",
        housing_presale,
    ),
];

const NATURE: &[HttpMatter] = &[
    query(
        "land-rights",
        "宅基地和土地使用权查询",
        "本人名下宅基地与建设用地使用权",
        "land-rights/{citizen}",
        nature_land,
    ),
    public(
        "plans",
        "规划公示",
        "控制性详细规划与建设工程规划公示",
        "plans",
        |rng| notices(rng, "GH", NATURE_NOTICES),
    ),
];

const ECOLOGY: &[HttpMatter] = &[
    public(
        "air-quality",
        "空气质量实况",
        "各监测站点实时 AQI 与首要污染物",
        "air-quality",
        ecology_air,
    ),
    submit(
        "report",
        "环境污染举报",
        "举报噪声、废气、废水、固废污染",
        "reports",
        &["category", "location", "description"],
        accepted,
        |_| json!({"category": "噪声", "location": "渝中区较场口", "description": "夜间施工噪声扰民"}),
    ),
    query(
        "my-reports",
        "我的举报查询",
        "本人环境举报的办理进度",
        "reports/{citizen}",
        |d| progress_list(d, "HB", &["噪声扰民", "餐饮油烟", "工地扬尘", "河道排污"]),
    ),
];

const CULTURE: &[HttpMatter] = &[
    public(
        "venues",
        "文化场馆开放信息",
        "图书馆、博物馆、美术馆开放时间与余票",
        "venues",
        culture_venues,
    ),
    submit(
        "venue-booking",
        "文化场馆预约",
        "预约场馆参观时段",
        "venue-bookings",
        &["venue_id", "date"],
        culture_book,
        |_| json!({"venue_id": "V01", "date": TODAY.add_days(2).to_string()}),
    ),
    query(
        "bookings",
        "我的场馆预约",
        "本人的场馆预约记录",
        "venue-bookings/{citizen}",
        culture_bookings,
    ),
];

const SPORTS: &[HttpMatter] = &[
    public(
        "events",
        "赛事活动",
        "近期全民健身赛事活动与报名",
        "events",
        sports_events,
    ),
    query(
        "registrations",
        "我的赛事报名",
        "本人赛事报名与参赛结果",
        "registrations/{citizen}",
        sports_registrations,
    ),
];

const VETERANS: &[HttpMatter] = &[
    query(
        "card",
        "退役军人优待证查询",
        "优待证办理状态与有效期",
        "preferential-cards/{citizen}",
        veterans_card,
    ),
    query(
        "benefits",
        "抚恤优待金查询",
        "抚恤金、优待金发放记录",
        "benefits/{citizen}",
        |d| {
            subsidy_list(
                d,
                &[
                    "定期抚恤金",
                    "义务兵家庭优待金",
                    "退役士兵自主就业一次性经济补助",
                ],
                0.15,
            )
        },
    ),
];

const DISABLED: &[HttpMatter] = &[
    query(
        "certificate",
        "残疾人证查询",
        "残疾人证号、类别、等级与有效期",
        "certificates/{citizen}",
        disabled_certificate,
    ),
    query(
        "subsidies",
        "残疾人两项补贴查询",
        "困难残疾人生活补贴和重度残疾人护理补贴",
        "subsidies/{citizen}",
        |d| subsidy_list(d, &["困难残疾人生活补贴", "重度残疾人护理补贴"], 0.05),
    ),
];

const COURT: &[HttpMatter] = &[
    query(
        "cases",
        "诉讼案件查询",
        "本人作为当事人的案件与审理进度",
        "cases/{citizen}",
        court_cases,
    ),
    public(
        "hearings",
        "开庭公告",
        "近期公开开庭审理公告",
        "hearings",
        |rng| notices(rng, "KT", COURT_NOTICES),
    ),
];

const PROCURATOR: &[HttpMatter] = &[
    query(
        "petitions",
        "控告申诉进度查询",
        "本人控告申诉的受理与办理进度",
        "petitions/{citizen}",
        |d| {
            progress_list(
                d,
                "JC",
                &["不服法院生效裁判申诉", "控告侵害合法权益", "国家赔偿申请"],
            )
        },
    ),
    submit(
        "petition",
        "控告申诉提交",
        "在线提交控告、申诉材料",
        "petitions",
        &["kind", "content"],
        accepted,
        |_| json!({"kind": "申诉", "content": "对民事判决不服，申请监督"}),
    ),
];

const NOTARY: &[HttpMatter] = &[
    query(
        "notarizations",
        "公证办理进度查询",
        "本人公证事项的受理、审查与出证进度",
        "notarizations/{citizen}",
        |d| {
            progress_list(
                d,
                "GZ",
                &[
                    "学历公证",
                    "出生公证",
                    "无犯罪记录公证",
                    "委托书公证",
                    "继承权公证",
                ],
            )
        },
    ),
    submit(
        "appointment",
        "公证预约",
        "预约到公证处办理公证",
        "appointments",
        &["matter", "date"],
        accepted,
        |_| json!({"matter": "委托书公证", "date": TODAY.add_days(3).to_string()}),
    ),
];

const ARCHIVES: &[HttpMatter] = &[
    query(
        "records",
        "个人档案查询",
        "馆藏婚姻、知青、学籍等个人档案目录",
        "records/{citizen}",
        archives_records,
    ),
    submit(
        "request",
        "查档预约",
        "预约查阅或出具档案证明",
        "requests",
        &["record_kind", "purpose"],
        accepted,
        |_| json!({"record_kind": "婚姻档案", "purpose": "办理继承"}),
    ),
];

const STATS: &[HttpMatter] = &[
    public(
        "indicators",
        "主要经济指标",
        "地区生产总值、居民人均可支配收入等月度指标",
        "indicators",
        stats_indicators,
    ),
    public(
        "releases",
        "统计公报",
        "国民经济和社会发展统计公报与专项调查公告",
        "releases",
        |rng| notices(rng, "TJ", STATS_NOTICES),
    ),
    query(
        "survey",
        "住户调查任务查询",
        "本人是否为住户调查样本户与记账任务",
        "surveys/{citizen}",
        stats_survey,
    ),
];

const AGRI: &[HttpMatter] = &[
    query(
        "subsidies",
        "耕地地力保护补贴查询",
        "惠农补贴发放明细",
        "subsidies/{citizen}",
        |d| {
            subsidy_list(
                d,
                &["耕地地力保护补贴", "农机购置补贴", "生猪调出大县奖励"],
                0.3,
            )
        },
    ),
    public(
        "prices",
        "农产品价格行情",
        "主要农产品批发市场价格",
        "prices",
        agri_prices,
    ),
];

const COMMERCE: &[HttpMatter] = &[
    query(
        "vouchers",
        "消费券查询",
        "本人领取的消费券与核销情况",
        "consumption-vouchers/{citizen}",
        commerce_vouchers,
    ),
    query(
        "trade-in",
        "以旧换新补贴查询",
        "家电、汽车以旧换新补贴申领进度",
        "trade-in-subsidies/{citizen}",
        |d| {
            progress_list(
                d,
                "YJ",
                &[
                    "家电以旧换新补贴",
                    "汽车报废更新补贴",
                    "电动自行车以旧换新补贴",
                ],
            )
        },
    ),
];

const SCIENCE: &[HttpMatter] = &[
    query(
        "talent",
        "科技人才认定查询",
        "高层次人才、科技特派员等认定结果",
        "talent-certifications/{citizen}",
        science_talent,
    ),
    public(
        "programs",
        "科技项目申报指南",
        "本年度科技计划项目申报指南",
        "programs",
        |rng| notices(rng, "KJ", SCIENCE_NOTICES),
    ),
];

const EMERGENCY: &[HttpMatter] = &[
    public(
        "shelters",
        "应急避难场所",
        "附近应急避难场所与容纳人数",
        "shelters",
        emergency_shelters,
    ),
    public(
        "alerts",
        "突发事件预警信息",
        "地质灾害、森林火险等预警",
        "alerts",
        |rng| notices(rng, "YJ", EMERGENCY_NOTICES),
    ),
    query(
        "permits",
        "特种作业操作证查询",
        "本人特种作业操作证类别与复审日期",
        "operation-permits/{citizen}",
        emergency_permits,
    ),
];

const WEATHER: &[HttpMatter] = &[
    public(
        "forecasts",
        "天气预报",
        "未来三天城市天气预报",
        "forecasts",
        weather_forecasts,
    ),
    public(
        "warnings",
        "气象预警",
        "生效中的气象灾害预警信号",
        "warnings",
        |rng| notices(rng, "QX", WEATHER_NOTICES),
    ),
    query(
        "subscriptions",
        "预警短信订阅查询",
        "本人订阅的预警短信类别",
        "subscriptions/{citizen}",
        weather_subscriptions,
    ),
];

const POSTAL: &[HttpMatter] = &[
    query(
        "parcels",
        "邮件快件查询",
        "寄往本人手机号的快件与投递状态",
        "parcels/{citizen}",
        postal_parcels,
    ),
    submit(
        "complaint",
        "快递服务投诉",
        "快件延误、丢失、损毁投诉",
        "complaints",
        &["tracking_no", "content"],
        accepted,
        |_| json!({"tracking_no": "SF1234567890123", "content": "快件超时未投递"}),
    ),
];

// ---------------------------------------------------------------------------
// Shared builders

/// The generic 201 answer: the application is accepted for processing.
fn accepted(d: &mut Doc<'_>, body: &Map<String, Value>, receipt: &str) -> Result<Value, ApiError> {
    let details: Map<String, Value> = body
        .iter()
        .filter(|(k, _)| k.as_str() != "citizen")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(json!({
        "application_no": receipt,
        "citizen_id": d.citizen.id,
        "status": "已受理",
        "accepted_at": data::now_cst(),
        "expected_done_on": TODAY.add_days(d.int(1, 10)).to_string(),
        "details": details,
    }))
}

fn notices(rng: &mut ChaCha8Rng, prefix: &str, titles: &[&str]) -> Value {
    let items: Vec<Value> = titles
        .iter()
        .enumerate()
        .map(|(i, title)| {
            let published = TODAY.add_days(-(i as i64) * 3 - rng.random_range(0..3));
            json!({
                "id": format!("{prefix}{}{:03}", published.compact(), i + 1),
                "title": title,
                "published_on": published.to_string(),
                "views": rng.random_range(120..50_000),
            })
        })
        .collect();
    json!({ "notices": items, "total": items.len() })
}

/// A list of applications with their progress.
fn progress_list(d: &mut Doc<'_>, prefix: &str, kinds: &[&'static str]) -> Value {
    const STAGES: &[&str] = &["已受理", "审查中", "已办结", "已办结", "已办结"];
    let n = d.int(0, 3);
    let items: Vec<Value> = (0..n)
        .map(|_| {
            let submitted = d.days_ago(700);
            json!({
                "application_no": format!("{prefix}{}{}", submitted.compact(), d.digits(5)),
                "kind": d.pick(kinds),
                "status": d.pick(STAGES),
                "submitted_on": submitted.to_string(),
            })
        })
        .collect();
    json!({ "total": items.len(), "applications": items })
}

/// Subsidy payments; the citizen is eligible with probability `p`.
fn subsidy_list(d: &mut Doc<'_>, kinds: &[&'static str], p: f64) -> Value {
    if !d.chance(p) {
        return json!({ "eligible": false, "payments": [], "total_fen": 0 });
    }
    let kind = d.pick(kinds);
    let monthly = d.yuan(80, 1500);
    let payments: Vec<Value> = (0..6)
        .map(|i| json!({ "period": TODAY.months_back(i).period(), "kind": kind, "amount_fen": monthly, "bank": "社保卡金融账户" }))
        .collect();
    json!({ "eligible": true, "kind": kind, "monthly_fen": monthly, "payments": payments, "total_fen": monthly * 6 })
}

// ---------------------------------------------------------------------------
// hrss

/// An adult's insured employment, as `contributions` shows it.
pub(super) struct Employment {
    /// The monthly contribution base, in fen.
    pub base_fen: i64,
    pub employer: &'static str,
    /// `YYYY-MM`: the first insured month.
    pub since: String,
    /// Months paid in total.
    pub paid_months: i32,
}

/// The employment behind `contributions` (call it with that matter's
/// [`Doc`]; minors have none).
pub(super) fn hrss_employment(d: &mut Doc<'_>) -> Employment {
    let base_fen = d.yuan(4_000, 25_000);
    let employer = d.employer();
    let since = format!(
        "{}-{:02}",
        (d.citizen.birth().year + 22).min(2024),
        d.int(1, 12)
    );
    Employment {
        base_fen,
        employer,
        since,
        paid_months: (d.citizen.age() - 21).clamp(1, 40) * 12,
    }
}

fn hrss_contributions(d: &mut Doc<'_>) -> Value {
    let age = d.citizen.age();
    if age < 18 {
        return json!({ "insured": false, "status": "未参保", "months": [] });
    }
    let Employment {
        base_fen: base,
        employer,
        since,
        paid_months,
    } = hrss_employment(d);
    let months: Vec<Value> = (0..6)
        .map(|i| {
            json!({
                "period": TODAY.months_back(i).period(),
                "base_fen": base,
                "pension_fen": base * 8 / 100,
                "medical_fen": base * 2 / 100,
                "unemployment_fen": base / 200,
                "employer_pension_fen": base * 16 / 100,
                "paid": true,
            })
        })
        .collect();
    json!({
        "insured": true,
        "status": if age >= 60 { "已退休" } else { "正常参保" },
        "employer": employer,
        "insured_since": since,
        "paid_months_total": paid_months,
        "months": months,
    })
}

fn hrss_pension(d: &mut Doc<'_>) -> Value {
    let age = d.citizen.age();
    let retire_age = if d.citizen.gender == crate::citizens::Gender::Male {
        60
    } else {
        55
    };
    if age >= retire_age {
        json!({
            "receiving": true,
            "monthly_fen": d.yuan(1_800, 7_500),
            "started_on": format!("{}-{:02}-01", d.citizen.birth().year + retire_age, d.int(1, 12)),
            "bank": d.pick(BANKS),
            "last_paid_on": TODAY.months_back(0).add_days(4).to_string(),
        })
    } else {
        json!({
            "receiving": false,
            "retirement_date": format!("{}-{:02}-01", d.citizen.birth().year + retire_age, d.citizen.birth().month),
            "estimated_monthly_fen": d.yuan(2_000, 6_000),
            "personal_account_fen": d.yuan(0, 180_000),
        })
    }
}

// ---------------------------------------------------------------------------
// hpf

fn hpf_balance(d: &mut Doc<'_>) -> i64 {
    d.yuan(1_000, 260_000)
}

pub(super) fn hpf_account(d: &mut Doc<'_>) -> Value {
    let balance = hpf_balance(d);
    let ratio = d.pick(&[5, 7, 10, 12]);
    let base = d.yuan(3_000, 30_000);
    json!({
        "account_no": format!("{}{}", d.citizen.area_code, d.digits(10)),
        "status": "正常缴存",
        "balance_fen": balance,
        "monthly_deposit_fen": base * ratio * 2 / 100,
        "deposit_ratio_percent": ratio,
        "employer": d.employer(),
        "opened_on": d.days_ago(5_000).to_string(),
        "last_deposit_on": TODAY.months_back(0).add_days(9).to_string(),
    })
}

fn hpf_loan(d: &mut Doc<'_>) -> Value {
    if !d.chance(0.35) {
        return json!({ "has_loan": false, "loans": [] });
    }
    let principal = d.yuan(200_000, 1_200_000);
    let term = d.pick(&[120, 180, 240, 300, 360]);
    let paid_months = d.int(3, term - 1);
    let outstanding = principal * (term - paid_months) / term;
    json!({
        "has_loan": true,
        "loans": [{
            "loan_no": format!("GJJ{}", d.digits(12)),
            "principal_fen": principal,
            "outstanding_fen": outstanding,
            "annual_rate_percent": 2.85,
            "term_months": term,
            "monthly_payment_fen": principal / term + outstanding * 285 / 120_000,
            "next_due_on": TODAY.months_back(0).add_days(44).to_string(),
            "overdue": false,
            "bank": d.pick(BANKS),
        }],
    })
}

fn hpf_withdraw(
    d: &mut Doc<'_>,
    body: &Map<String, Value>,
    receipt: &str,
) -> Result<Value, ApiError> {
    const REASONS: &[&str] = &["租房", "购房", "偿还贷款", "退休", "大病医疗"];
    let reason = str_field(body, "reason")?;
    if !REASONS.contains(&reason) {
        return Err(ApiError::unprocessable(
            "UNKNOWN_REASON",
            format!("reason must be one of {}", REASONS.join("、")),
        ));
    }
    let amount = int_field(body, "amount_fen")?;
    let balance = hpf_balance(&mut d.sibling("account"));
    if amount <= 0 || amount > balance {
        return Err(ApiError::unprocessable(
            "AMOUNT_EXCEEDS_BALANCE",
            format!("amount_fen must be between 1 and the balance {balance}"),
        ));
    }
    Ok(json!({
        "application_no": receipt,
        "citizen_id": d.citizen.id,
        "reason": reason,
        "amount_fen": amount,
        "status": "已受理",
        "expected_credit_on": TODAY.add_days(3).to_string(),
    }))
}

// ---------------------------------------------------------------------------
// water / power / gas

/// One utility bill.
struct Bill {
    id: String,
    period: String,
    usage: i64,
    amount_fen: i64,
    due_on: String,
    paid: bool,
}

/// (unit, price in fen per unit, usage range, bill id prefix, company)
fn utility(dept: &str) -> (&'static str, i64, (i64, i64), &'static str) {
    match dept {
        "power" => ("kWh", 52, (80, 600), "DF"),
        "gas" => ("m³", 273, (8, 60), "RQ"),
        _ => ("m³", 410, (5, 30), "SF"),
    }
}

/// The last six monthly bills; the latest is always unpaid.
fn bills(d: &mut Doc<'_>) -> Vec<Bill> {
    let (_, price, (lo, hi), prefix) = utility(d.dept);
    (0..6)
        .map(|i| {
            let month = TODAY.months_back(i);
            let usage = d.int(lo, hi);
            Bill {
                id: format!("{prefix}{}{}", month.compact(), d.digits(4)),
                period: month.period(),
                usage,
                amount_fen: usage * price,
                due_on: month.months_back(0).add_days(45).to_string(),
                paid: i > 0 && !d.chance(0.1),
            }
        })
        .collect()
}

fn bills_doc(d: &mut Doc<'_>) -> Value {
    let (unit, price, _, _) = utility(d.dept);
    let list = bills(d);
    let unpaid: i64 = list.iter().filter(|b| !b.paid).map(|b| b.amount_fen).sum();
    let items: Vec<Value> = list
        .iter()
        .map(|b| {
            json!({
                "bill_id": b.id, "period": b.period, "usage": b.usage, "amount_fen": b.amount_fen,
                "due_on": b.due_on, "paid": b.paid,
            })
        })
        .collect();
    let mut account = d.sibling("account");
    json!({
        "account_no": account.digits(10),
        "address": account.address(),
        "unit": unit,
        "unit_price_fen": price,
        "unpaid_total_fen": unpaid,
        "bills": items,
    })
}

fn payment_example(d: &mut Doc<'_>) -> Value {
    let bills = bills(&mut d.sibling("bills"));
    let bill = bills.iter().find(|b| !b.paid);
    json!({
        "bill_id": bill.map(|b| b.id.clone()),
        "amount_fen": bill.map(|b| b.amount_fen),
    })
}

fn pay_bill(d: &mut Doc<'_>, body: &Map<String, Value>, receipt: &str) -> Result<Value, ApiError> {
    let bill_id = str_field(body, "bill_id")?;
    let amount = int_field(body, "amount_fen")?;
    let bills = bills(&mut d.sibling("bills"));
    let Some(bill) = bills.iter().find(|b| b.id == bill_id) else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "BILL_NOT_FOUND",
            format!("no bill {bill_id} for this citizen"),
        ));
    };
    if bill.paid {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "BILL_ALREADY_PAID",
            format!("bill {bill_id} is already paid"),
        ));
    }
    if amount != bill.amount_fen {
        return Err(ApiError::unprocessable(
            "AMOUNT_MISMATCH",
            format!(
                "bill {bill_id} is for {} fen, not {amount}",
                bill.amount_fen
            ),
        ));
    }
    Ok(json!({
        "receipt_no": receipt,
        "citizen_id": d.citizen.id,
        "bill_id": bill.id,
        "period": bill.period,
        "amount_fen": amount,
        "status": "缴费成功",
        "paid_at": data::now_cst(),
    }))
}

// ---------------------------------------------------------------------------
// civil

pub(super) fn civil_marriage(d: &mut Doc<'_>) -> Value {
    let age = d.citizen.age();
    let status = match age {
        ..22 => "未婚",
        22..30 => d.pick(&["未婚", "未婚", "已婚"]),
        30..75 => d.pick(&["已婚", "已婚", "已婚", "离异", "未婚"]),
        _ => d.pick(&["已婚", "丧偶"]),
    };
    let registered = (status != "未婚").then(|| {
        let year = (d.citizen.birth().year + d.int(22, 32) as i32).min(TODAY.year);
        format!("{year}-{:02}-{:02}", d.int(1, 12), d.int(1, 28))
    });
    json!({
        "marital_status": status,
        "registered_on": registered,
        "registry_office": registered.as_ref().map(|_| format!("{}民政局婚姻登记处", d.citizen.area_name)),
    })
}

fn civil_appointment(
    d: &mut Doc<'_>,
    body: &Map<String, Value>,
    receipt: &str,
) -> Result<Value, ApiError> {
    let partner = str_field(body, "partner_id")?;
    if !crate::citizens::is_valid_resident_id(partner) || partner == d.citizen.id {
        return Err(ApiError::unprocessable(
            "INVALID_PARTNER",
            "partner_id must be another person's valid resident ID number",
        ));
    }
    let date = date_field(body, "date")?;
    Ok(json!({
        "appointment_no": receipt,
        "citizen_id": d.citizen.id,
        "partner_id": partner,
        "office": format!("{}民政局婚姻登记处", d.citizen.area_name),
        "slot": date.at(d.int(9, 16) as u32, d.pick(&[0, 30])),
        "status": "预约成功",
    }))
}

fn civil_subsidies(d: &mut Doc<'_>) -> Value {
    let mut doc = subsidy_list(d, &["城乡低保", "临时救助", "特困人员救助供养"], 0.08);
    if d.citizen.age() >= 80
        && let Some(obj) = doc.as_object_mut()
    {
        obj.insert("elderly_allowance_fen".into(), json!(10_000));
    }
    doc
}

// ---------------------------------------------------------------------------
// edu

const SCHOOLS: &[(&str, &str, &str)] = &[
    ("S01", "重庆市人民小学", "小学"),
    ("S02", "重庆市巴蜀小学", "小学"),
    ("S03", "重庆市第二十九中学校", "初中"),
    ("S04", "重庆市巴蜀中学校", "初中"),
    ("S05", "重庆市求精中学校", "高中"),
];

fn edu_enrolment(d: &mut Doc<'_>) -> Value {
    let age = d.citizen.age();
    if !(6..=18).contains(&age) {
        return json!({ "enrolled": false, "status": "无在读学籍" });
    }
    let (stage, grade) = match age {
        6..=11 => ("小学", age - 5),
        12..=14 => ("初中", age - 11),
        _ => ("高中", (age - 14).min(3)),
    };
    let school = SCHOOLS
        .iter()
        .filter(|s| s.2 == stage)
        .map(|s| s.1)
        .next()
        .unwrap_or("重庆市人民小学");
    json!({
        "enrolled": true,
        "status": "在读",
        "student_no": format!("G{}", d.citizen.id),
        "school": school,
        "stage": stage,
        "grade": grade,
        "class": d.int(1, 12),
        "enrolled_on": format!("{}-09-01", TODAY.year - grade + 1),
    })
}

fn edu_schools(rng: &mut ChaCha8Rng) -> Value {
    let items: Vec<Value> = SCHOOLS
        .iter()
        .map(|(id, name, stage)| {
            json!({ "id": id, "name": name, "stage": stage, "public": true, "places": rng.random_range(180..900) })
        })
        .collect();
    json!({ "schools": items })
}

// ---------------------------------------------------------------------------
// market, police, transport, housing, nature

fn market_licences(d: &mut Doc<'_>) -> Value {
    if d.citizen.age() < 18 || !d.chance(0.2) {
        return json!({ "total": 0, "entities": [] });
    }
    let surname: String = d.citizen.name.chars().take(1).collect();
    let kind = d.pick(&["个体工商户", "有限责任公司（自然人独资）", "有限责任公司"]);
    let trade = d.pick(&[
        "小面馆",
        "便利店",
        "文化传媒",
        "科技",
        "建材经营部",
        "火锅店",
    ]);
    json!({
        "total": 1,
        "entities": [{
            "uscc": format!("91{}MA{}", d.citizen.area_code, d.digits(8)),
            "name": format!("{}{}氏{}", d.citizen.area_name, surname, trade),
            "kind": kind,
            "legal_representative": d.citizen.name,
            "registered_capital_fen": d.yuan(10_000, 5_000_000),
            "established_on": d.days_ago(4_000).to_string(),
            "status": "存续",
        }],
    })
}

pub(super) fn police_household(d: &mut Doc<'_>) -> Value {
    let relation = match d.citizen.age() {
        ..18 => "子女",
        _ => d.pick(&["户主", "户主", "配偶", "子女"]),
    };
    json!({
        "name": d.citizen.name,
        "gender": d.citizen.gender.zh(),
        "birth_date": d.citizen.birth_date,
        "ethnicity": d.pick(&["汉族", "汉族", "汉族", "土家族", "苗族", "回族"]),
        "household_no": d.digits(9),
        "relation_to_head": relation,
        "address": d.address(),
        "police_station": format!("{}派出所", d.citizen.area_name),
        "household_type": d.pick(&["城镇", "城镇", "农村"]),
        "members": d.int(1, 5),
    })
}

fn police_id_card(d: &mut Doc<'_>) -> Value {
    let age = d.citizen.age();
    let valid_years = match age {
        ..16 => 5,
        16..26 => 10,
        26..46 => 20,
        _ => 0,
    };
    let issued = d.days_ago(365 * 5);
    let mut doc = json!({
        "card_valid_from": issued.to_string(),
        "card_valid_until": if valid_years == 0 { "长期".to_string() } else { issued.add_days(valid_years * 365).to_string() },
        "issuing_authority": format!("{}公安局", d.citizen.area_name),
        "applications": [],
    });
    if d.chance(0.15) {
        doc["applications"] = json!([{
            "application_no": format!("SFZ{}", d.digits(12)),
            "kind": d.pick(&["到期换领", "遗失补领"]),
            "status": d.pick(&["制证中", "待领取", "已领取"]),
            "submitted_on": d.days_ago(30).to_string(),
        }]);
    }
    doc
}

fn transport_balance(d: &mut Doc<'_>) -> i64 {
    d.yuan(0, 300)
}

fn transport_card(d: &mut Doc<'_>) -> Value {
    const LINES: &[(&str, &[&str])] = &[
        (
            "轨道交通2号线",
            &["较场口", "临江门", "李子坝", "佛图关", "大坪"],
        ),
        ("轨道交通3号线", &["观音桥", "红旗河沟", "两路口", "南坪"]),
        ("公交181路", &["朝天门", "解放碑", "两路口"]),
    ];
    let balance = transport_balance(&mut d.sibling("balance"));
    let trips: Vec<Value> = (0..d.int(0, 5))
        .map(|_| {
            let (line, stations) = d.pick(LINES);
            json!({
                "line": line,
                "station": d.pick(stations),
                "fare_fen": d.pick(&[200, 200, 300, 400, 500]),
                "at": d.days_ago(20).at(d.int(6, 22) as u32, d.int(0, 59) as u32),
            })
        })
        .collect();
    json!({
        "card_no": format!("3100{}", d.digits(12)),
        "card_type": if d.citizen.age() >= 65 { "敬老卡" } else { "普通卡" },
        "balance_fen": balance,
        "status": "正常",
        "recent_trips": trips,
    })
}

fn transport_topup(
    d: &mut Doc<'_>,
    body: &Map<String, Value>,
    receipt: &str,
) -> Result<Value, ApiError> {
    let amount = int_field(body, "amount_fen")?;
    if !(100..=100_000).contains(&amount) {
        return Err(ApiError::unprocessable(
            "AMOUNT_OUT_OF_RANGE",
            "amount_fen must be between 100 and 100000",
        ));
    }
    let balance = transport_balance(&mut d.sibling("balance"));
    Ok(json!({
        "receipt_no": receipt,
        "citizen_id": d.citizen.id,
        "amount_fen": amount,
        "new_balance_fen": balance + amount,
        "status": "充值成功",
        "paid_at": data::now_cst(),
    }))
}

fn housing_properties(d: &mut Doc<'_>) -> Value {
    if d.citizen.age() < 22 {
        return json!({ "total": 0, "properties": [] });
    }
    let n = d.pick(&[0, 1, 1, 1, 2]);
    let items: Vec<Value> = (0..n)
        .map(|_| {
            let registered = d.days_ago(6_000);
            json!({
                "certificate_no": format!("渝({})不动产权第{}号", registered.year, d.digits(7)),
                "address": d.address(),
                "usage": d.pick(&["住宅", "住宅", "商业"]),
                "area_m2": d.int(4_000, 16_000) as f64 / 100.0,
                "ownership": d.pick(&["单独所有", "共同共有"]),
                "registered_on": registered.to_string(),
                "mortgaged": d.chance(0.4),
                "sealed": false,
            })
        })
        .collect();
    json!({ "total": items.len(), "properties": items })
}

fn housing_presale(rng: &mut ChaCha8Rng) -> Value {
    const PROJECTS: &[&str] = &[
        "江与城·玖樾",
        "龙湖·九里晴川",
        "华润·置地公元九里",
        "招商·雍江府",
    ];
    let items: Vec<Value> = PROJECTS
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "permit_no": format!("渝住建委（2026）预字第{:04}号", 100 + i * 37),
                "project": p,
                "units": rng.random_range(80..600),
                "issued_on": TODAY.add_days(-(i as i64) * 9).to_string(),
            })
        })
        .collect();
    json!({ "permits": items })
}

fn nature_land(d: &mut Doc<'_>) -> Value {
    if d.citizen.age() < 18 || !d.chance(0.25) {
        return json!({ "total": 0, "rights": [] });
    }
    json!({
        "total": 1,
        "rights": [{
            "certificate_no": format!("渝({})不动产权第{}号", d.days_ago(8_000).year, d.digits(7)),
            "kind": d.pick(&["宅基地使用权", "集体建设用地使用权"]),
            "location": format!("{}某某村{}组", d.citizen.area_name, d.int(1, 9)),
            "area_m2": d.int(8_000, 30_000) as f64 / 100.0,
        }],
    })
}

// ---------------------------------------------------------------------------
// ecology, culture, sports

fn ecology_air(rng: &mut ChaCha8Rng) -> Value {
    const STATIONS: &[&str] = &["解放碑", "杨家坪", "南坪", "两路", "缙云山"];
    let items: Vec<Value> = STATIONS
        .iter()
        .map(|s| {
            let aqi = rng.random_range(18..160);
            let level = match aqi {
                ..51 => "优",
                51..101 => "良",
                _ => "轻度污染",
            };
            json!({ "station": s, "aqi": aqi, "level": level, "primary_pollutant": if aqi > 50 { "PM2.5" } else { "—" } })
        })
        .collect();
    json!({ "observed_at": TODAY.at(10, 0), "stations": items })
}

const VENUES: &[(&str, &str)] = &[
    ("V01", "重庆中国三峡博物馆"),
    ("V02", "重庆图书馆"),
    ("V03", "重庆美术馆"),
    ("V04", "重庆自然博物馆"),
];

fn culture_venues(rng: &mut ChaCha8Rng) -> Value {
    let items: Vec<Value> = VENUES
        .iter()
        .map(|(id, name)| {
            json!({ "id": id, "name": name, "opening_hours": "09:00-17:00", "closed_on": "周一", "tickets_left_today": rng.random_range(0..3000) })
        })
        .collect();
    json!({ "venues": items })
}

fn culture_book(
    d: &mut Doc<'_>,
    body: &Map<String, Value>,
    receipt: &str,
) -> Result<Value, ApiError> {
    let venue_id = str_field(body, "venue_id")?;
    let Some((_, venue)) = VENUES.iter().find(|(id, _)| *id == venue_id) else {
        return Err(ApiError::unprocessable(
            "UNKNOWN_VENUE",
            format!("no venue {venue_id}"),
        ));
    };
    let date = date_field(body, "date")?;
    Ok(json!({
        "booking_no": receipt,
        "citizen_id": d.citizen.id,
        "venue": venue,
        "date": date.to_string(),
        "slot": d.pick(&["09:00-11:00", "11:00-13:00", "14:00-16:00"]),
        "status": "预约成功",
    }))
}

fn culture_bookings(d: &mut Doc<'_>) -> Value {
    let items: Vec<Value> = (0..d.int(0, 3))
        .map(|_| {
            let (_, venue) = d.pick(VENUES);
            json!({ "booking_no": format!("WL{}", d.digits(10)), "venue": venue, "date": d.days_ago(90).to_string(), "status": "已核销" })
        })
        .collect();
    json!({ "total": items.len(), "bookings": items })
}

const EVENTS: &[&str] = &[
    "重庆马拉松",
    "长江三峡自行车公开赛",
    "社区乒乓球联赛",
    "全民健身登山节",
];

fn sports_events(rng: &mut ChaCha8Rng) -> Value {
    let items: Vec<Value> = EVENTS
        .iter()
        .enumerate()
        .map(|(i, e)| {
            json!({ "id": format!("E{:02}", i + 1), "name": e, "date": TODAY.add_days(10 + i as i64 * 14).to_string(), "quota": rng.random_range(200..30_000), "open": i != 0 })
        })
        .collect();
    json!({ "events": items })
}

fn sports_registrations(d: &mut Doc<'_>) -> Value {
    let items: Vec<Value> = (0..d.int(0, 2))
        .map(|_| json!({ "event": d.pick(EVENTS), "bib": d.digits(5), "status": d.pick(&["已报名", "已完赛", "中签"]) }))
        .collect();
    json!({ "total": items.len(), "registrations": items })
}

// ---------------------------------------------------------------------------
// veterans, disabled, court, archives

fn veterans_card(d: &mut Doc<'_>) -> Value {
    if d.citizen.age() < 22 || !d.chance(0.06) {
        return json!({ "holder": false });
    }
    json!({
        "holder": true,
        "card_no": format!("TY{}", d.digits(10)),
        "card_type": "退役军人优待证",
        "issued_on": d.days_ago(1_200).to_string(),
        "service_years": d.int(2, 16),
    })
}

fn disabled_certificate(d: &mut Doc<'_>) -> Value {
    if !d.chance(0.05) {
        return json!({ "holder": false });
    }
    json!({
        "holder": true,
        "certificate_no": format!("{}{}", d.citizen.id, d.pick(&["11", "21", "42", "63"])),
        "category": d.pick(&["视力残疾", "听力残疾", "肢体残疾", "智力残疾"]),
        "grade": d.pick(&["一级", "二级", "三级", "四级"]),
        "valid_until": TODAY.add_days(d.int(200, 3_000)).to_string(),
    })
}

fn court_cases(d: &mut Doc<'_>) -> Value {
    if d.citizen.age() < 18 || !d.chance(0.12) {
        return json!({ "total": 0, "cases": [] });
    }
    let filed = d.days_ago(900);
    json!({
        "total": 1,
        "cases": [{
            "case_no": format!("（{}）渝0103民初{}号", filed.year, d.int(1_000, 29_999)),
            "cause": d.pick(&["民间借贷纠纷", "买卖合同纠纷", "物业服务合同纠纷", "劳动争议"]),
            "role": d.pick(&["原告", "被告"]),
            "stage": d.pick(&["立案", "审理中", "已结案"]),
            "filed_on": filed.to_string(),
            "judge": "审判员 李某某",
        }],
    })
}

fn archives_records(d: &mut Doc<'_>) -> Value {
    let mut kinds = vec![];
    if d.citizen.age() >= 22 && d.chance(0.6) {
        kinds.push("婚姻登记档案");
    }
    if d.citizen.age() >= 7 {
        kinds.push("学籍档案");
    }
    if d.citizen.birth().year < 1962 && d.chance(0.3) {
        kinds.push("知青档案");
    }
    let items: Vec<Value> = kinds
        .iter()
        .map(|k| json!({ "kind": k, "archive_no": format!("DA{}", d.digits(9)), "year": d.days_ago(12_000).year }))
        .collect();
    json!({ "total": items.len(), "records": items })
}

// ---------------------------------------------------------------------------
// stats, agri, commerce, science, emergency, weather, postal

fn stats_indicators(rng: &mut ChaCha8Rng) -> Value {
    json!({
        "period": TODAY.months_back(1).period(),
        "indicators": [
            { "name": "地区生产总值累计增长", "unit": "%", "value": rng.random_range(50..70) as f64 / 10.0 },
            { "name": "居民人均可支配收入", "unit": "元", "value": rng.random_range(38_000..52_000) },
            { "name": "居民消费价格指数", "unit": "上年同期=100", "value": rng.random_range(990..1015) as f64 / 10.0 },
            { "name": "城镇调查失业率", "unit": "%", "value": rng.random_range(45..58) as f64 / 10.0 },
        ],
    })
}

fn stats_survey(d: &mut Doc<'_>) -> Value {
    let sampled = d.chance(0.03);
    json!({
        "sampled": sampled,
        "survey": if sampled { json!("城乡住户收支调查") } else { Value::Null },
        "bookkeeping_due_on": if sampled { json!(TODAY.add_days(10).to_string()) } else { Value::Null },
    })
}

fn agri_prices(rng: &mut ChaCha8Rng) -> Value {
    const GOODS: &[(&str, i64)] = &[
        ("猪肉（白条）", 2_400),
        ("鸡蛋", 900),
        ("大白菜", 180),
        ("土豆", 260),
        ("柑橘", 520),
    ];
    let items: Vec<Value> = GOODS
        .iter()
        .map(|(name, base)| json!({ "product": name, "unit": "元/公斤", "price_fen": base + rng.random_range(-base / 10..=base / 10) }))
        .collect();
    json!({ "market": "重庆双福国际农贸城", "date": TODAY.to_string(), "prices": items })
}

fn commerce_vouchers(d: &mut Doc<'_>) -> Value {
    let items: Vec<Value> = (0..d.int(0, 4))
        .map(|_| {
            let face = d.pick(&[1_000, 2_000, 5_000, 10_000]);
            json!({
                "voucher_no": format!("XFQ{}", d.digits(10)),
                "kind": d.pick(&["餐饮消费券", "零售消费券", "汽车消费券", "文旅消费券"]),
                "face_value_fen": face,
                "threshold_fen": face * 4,
                "redeemed": d.chance(0.5),
                "expires_on": TODAY.add_days(d.int(1, 60)).to_string(),
            })
        })
        .collect();
    json!({ "total": items.len(), "vouchers": items })
}

fn science_talent(d: &mut Doc<'_>) -> Value {
    if d.citizen.age() < 25 || !d.chance(0.04) {
        return json!({ "certified": false });
    }
    json!({
        "certified": true,
        "category": d.pick(&["科技特派员", "高新技术企业科技人才", "青年科技领军人才"]),
        "certified_on": d.days_ago(1_500).to_string(),
        "certificate_no": format!("KJRC{}", d.digits(8)),
    })
}

fn emergency_shelters(rng: &mut ChaCha8Rng) -> Value {
    const SHELTERS: &[&str] = &[
        "人民广场应急避难场所",
        "鹅岭公园应急避难场所",
        "大田湾体育场应急避难场所",
    ];
    let items: Vec<Value> = SHELTERS
        .iter()
        .map(|s| json!({ "name": s, "capacity": rng.random_range(2_000..40_000), "area_m2": rng.random_range(5_000..80_000) }))
        .collect();
    json!({ "shelters": items })
}

fn emergency_permits(d: &mut Doc<'_>) -> Value {
    if d.citizen.age() < 18 || !d.chance(0.1) {
        return json!({ "total": 0, "permits": [] });
    }
    let issued = d.days_ago(2_000);
    json!({
        "total": 1,
        "permits": [{
            "permit_no": format!("T{}", d.citizen.id),
            "kind": d.pick(&["电工作业", "焊接与热切割作业", "高处作业", "制冷与空调作业"]),
            "issued_on": issued.to_string(),
            "next_review_on": issued.add_days(3 * 365).to_string(),
            "valid_until": issued.add_days(6 * 365).to_string(),
        }],
    })
}

fn weather_forecasts(rng: &mut ChaCha8Rng) -> Value {
    const SKIES: &[&str] = &["晴", "多云", "阴", "小雨", "中雨"];
    let days: Vec<Value> = (0..3)
        .map(|i| {
            let low = rng.random_range(6..16);
            json!({
                "date": TODAY.add_days(i).to_string(),
                "sky": data::pick(rng, SKIES),
                "low_c": low,
                "high_c": low + rng.random_range(3..10),
                "precipitation_percent": rng.random_range(0..90),
            })
        })
        .collect();
    json!({ "city": "重庆", "issued_at": TODAY.at(6, 0), "days": days })
}

fn weather_subscriptions(d: &mut Doc<'_>) -> Value {
    let all = ["暴雨", "高温", "大风", "雷电", "大雾", "寒潮"];
    let topics: Vec<&str> = all.iter().copied().filter(|_| d.chance(0.4)).collect();
    json!({ "phone": d.citizen.phone, "subscribed": !topics.is_empty(), "topics": topics })
}

fn postal_parcels(d: &mut Doc<'_>) -> Value {
    let items: Vec<Value> = (0..d.int(0, 4))
        .map(|_| {
            let carrier = d.pick(&[
                ("SF", "顺丰速运"),
                ("YT", "圆通速递"),
                ("ZTO", "中通快递"),
                ("EMS", "中国邮政EMS"),
            ]);
            json!({
                "tracking_no": format!("{}{}", carrier.0, d.digits(13)),
                "carrier": carrier.1,
                "status": d.pick(&["已揽收", "运输中", "派送中", "已签收"]),
                "updated_at": d.days_ago(7).at(d.int(8, 21) as u32, d.int(0, 59) as u32),
            })
        })
        .collect();
    json!({ "phone": d.citizen.phone, "total": items.len(), "parcels": items })
}

// ---------------------------------------------------------------------------
// Body fields

fn str_field<'b>(body: &'b Map<String, Value>, name: &str) -> Result<&'b str, ApiError> {
    body.get(name).and_then(Value::as_str).ok_or_else(|| {
        ApiError::unprocessable("INVALID_FIELD", format!("`{name}` must be a string"))
    })
}

fn int_field(body: &Map<String, Value>, name: &str) -> Result<i64, ApiError> {
    body.get(name).and_then(Value::as_i64).ok_or_else(|| {
        ApiError::unprocessable("INVALID_FIELD", format!("`{name}` must be an integer"))
    })
}

fn date_field(body: &Map<String, Value>, name: &str) -> Result<data::Date, ApiError> {
    let date = data::Date::parse(str_field(body, name)?).ok_or_else(|| {
        ApiError::unprocessable(
            "INVALID_FIELD",
            format!("`{name}` must be a date, YYYY-MM-DD"),
        )
    })?;
    if date < TODAY {
        return Err(ApiError::unprocessable(
            "DATE_IN_PAST",
            format!("`{name}` must not be before {TODAY}"),
        ));
    }
    Ok(date)
}

// ---------------------------------------------------------------------------
// Notice titles

const HRSS_NOTICES: &[&str] = &[
    "关于调整2026年度社会保险缴费基数上下限的通知",
    "关于开展2026年度城乡居民养老保险集中参保缴费工作的公告",
    "灵活就业人员参保缴费操作指南",
];
const WATER_NOTICES: &[&str] = &[
    "渝中区较场口片区管网改造计划停水通知",
    "江北区观音桥部分区域降压供水公告",
];
const POWER_NOTICES: &[&str] = &[
    "10kV大坪线检修计划停电公告",
    "南岸区南坪片区配网改造停电通知",
];
const TRANSPORT_NOTICES: &[&str] = &[
    "轨道交通15号线开通初期运营公告",
    "公交181路临时绕行的通知",
    "关于优化部分公交线路的公示",
];
const NATURE_NOTICES: &[&str] = &[
    "渝中区解放碑片区控制性详细规划局部调整公示",
    "两江新区某地块建设工程设计方案公示",
];
const COURT_NOTICES: &[&str] = &[
    "（2026）渝0103民初12345号民间借贷纠纷一案开庭公告",
    "（2026）渝0105刑初678号一案开庭公告",
];
const STATS_NOTICES: &[&str] = &[
    "2025年国民经济和社会发展统计公报",
    "第五次全国经济普查主要数据公报",
    "2026年前三季度居民收支情况",
];
const SCIENCE_NOTICES: &[&str] = &[
    "2027年度技术创新与应用发展专项申报指南",
    "2027年度自然科学基金项目申报通知",
];
const EMERGENCY_NOTICES: &[&str] = &["地质灾害气象风险黄色预警", "森林火险橙色预警"];
const WEATHER_NOTICES: &[&str] = &["大雾黄色预警信号", "寒潮蓝色预警信号"];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::catalog::DEPARTMENTS;
    use crate::citizens::Population;
    use crate::manifest::Protocol;

    #[test]
    fn every_http_department_has_two_to_four_matters_with_unique_ids() {
        for dept in DEPARTMENTS.iter().filter(|d| d.protocol == Protocol::Http) {
            let list = matters(dept.id);
            // Data items come on top.
            let own = list.iter().filter(|m| m.data_item.is_none()).count();
            assert!((2..=4).contains(&own), "{}: {own}", dept.id);
            let mut ids: Vec<_> = list.iter().map(|m| m.id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), list.len(), "{}", dept.id);
            assert!(
                !ids.contains(&"overview") && !ids.contains(&"echo"),
                "{}",
                dept.id
            );
        }
    }

    #[test]
    fn documents_are_deterministic_and_payments_validate() {
        let pop = Population::new(5, 30);
        for citizen in pop.all() {
            let a = bills_doc(&mut Doc::new(&pop, "water", "bills", citizen));
            let b = bills_doc(&mut Doc::new(&pop, "water", "bills", citizen));
            assert_eq!(a, b);
            let mut doc = Doc::new(&pop, "water", "payment", citizen);
            let example = payment_example(&mut doc);
            let body = example.as_object().unwrap();
            assert!(pay_bill(&mut doc, body, "R1").is_ok(), "{example}");
            let mut wrong = body.clone();
            wrong.insert("amount_fen".into(), json!(1));
            assert_eq!(
                pay_bill(&mut doc, &wrong, "R2").unwrap_err().code,
                "AMOUNT_MISMATCH"
            );
            wrong.insert("bill_id".into(), json!("nope"));
            assert_eq!(
                pay_bill(&mut doc, &wrong, "R3").unwrap_err().code,
                "BILL_NOT_FOUND"
            );
        }
    }
}
