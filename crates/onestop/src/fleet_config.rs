//! Department configuration for a simulated fleet, generated from its
//! manifest. The demo writes these files and then loads them through the
//! ordinary configuration path, so it exercises what operators use.

use std::path::Path;
use std::time::Duration;

use onestop_sim::manifest::{
    DataFieldManifest, DataItemManifest, DeptManifest, FleetManifest, HealthProbe, Protocol,
};
use toml::{Table, Value};

/// Knobs for the generated configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// Route timeout for unary matters.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub health_interval: Duration,
    pub health_timeout: Duration,
    pub max_concurrency: usize,
    pub retries: u32,
    /// Passive ejection on live-traffic failures (off: active checks only).
    pub passive_health: bool,
    /// Matters that concern a citizen (a citizen parameter, a submission,
    /// or a gRPC method) get `auth = "citizen"`; the configuration then
    /// needs an identity issuer.
    pub citizen_auth: bool,
    /// Each department's deadline in the citizen overview.
    pub overview_timeout: Duration,
    /// gRPC departments name the fleet's descriptor set
    /// ([`DESCRIPTOR_FILE`], written by [`write_descriptor_set`]), so the
    /// gateway also serves them as HTTP/JSON and gRPC-Web.
    pub transcode: bool,
    /// Public reference matters ([`onestop_sim::registrar::is_public_reference`])
    /// get a 60 s shared cache, as registered services do with policies on.
    pub reference_cache: bool,
}

/// The fleet's descriptor set, beside the department files.
pub const DESCRIPTOR_FILE: &str = "onestop-sim.binpb";

/// Writes the fleet's descriptor set into a departments directory.
pub fn write_descriptor_set(departments: &Path) -> std::io::Result<()> {
    let path = departments.join(DESCRIPTOR_FILE);
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, onestop_sim::pb::FILE_DESCRIPTOR_SET)?;
    std::fs::rename(&tmp, path)
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_millis(500),
            health_interval: Duration::from_secs(1),
            health_timeout: Duration::from_millis(500),
            max_concurrency: 256,
            retries: 2,
            passive_health: true,
            citizen_auth: false,
            overview_timeout: Duration::from_millis(800),
            transcode: true,
            reference_cache: false,
        }
    }
}

fn dur(d: Duration) -> Value {
    Value::String(humantime::format_duration(d).to_string())
}

fn table(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Table {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

/// The `[department]` table of a department. A department serving an
/// `overview` matter (`…/overview/{citizen}`) declares it as its item in
/// the citizen overview, with `me` for the citizen.
fn department_table(dept: &DeptManifest, opts: &Options) -> Table {
    let mut t = table([
        ("id", s(&dept.id)),
        ("name", s(&dept.name)),
        ("name_en", s(&dept.name_en)),
        (
            "max_concurrency",
            Value::Integer(i64::try_from(opts.max_concurrency).unwrap_or(256)),
        ),
    ]);
    if let Some(path) = overview_path(dept) {
        t.insert(
            "overview".into(),
            Value::Table(table([
                ("path", s(&path)),
                ("timeout", dur(opts.overview_timeout)),
            ])),
        );
    }
    t
}

/// The path of a department's overview item: its `overview` matter with
/// `me` in place of the citizen parameter.
fn overview_path(dept: &DeptManifest) -> Option<String> {
    let matter = dept
        .matters
        .iter()
        .find(|m| m.id == "overview" && m.method == "GET")?;
    let param = matter.citizen_param.as_ref()?;
    let placeholder = format!("{{{param}}}");
    matter
        .path
        .contains(&placeholder)
        .then(|| matter.path.replace(&placeholder, "me"))
}

/// A `[[data_items]]` entry: the item and its `[[data_items.fields]]`.
fn data_item_table(item: &DataItemManifest) -> Table {
    let fields = item
        .fields
        .iter()
        .map(|f| Value::Table(field_table(f)))
        .collect();
    table([
        ("id", s(&item.id)),
        ("name", s(&item.name)),
        ("description", s(&item.description)),
        ("sharing", s(item.sharing.as_str())),
        ("fetch", s(&item.fetch)),
        ("provider_approval", Value::Boolean(item.provider_approval)),
        ("fields", Value::Array(fields)),
    ])
}

fn field_table(field: &DataFieldManifest) -> Table {
    let mut t = table([
        ("name", s(&field.name)),
        ("type", s(field.kind.as_str())),
        ("sensitivity", s(field.sensitivity.as_str())),
    ]);
    if let Some(mask) = field.mask {
        t.insert("mask".into(), s(mask.as_str()));
    }
    t
}

/// The TOML text of one department's file: its service, a route per
/// matter (routes serving a data item name it in `data_item`) and its
/// data catalog (`[[data_items]]`).
pub fn department_toml(dept: &DeptManifest, opts: &Options) -> String {
    let department = department_table(dept, opts);
    let instances = dept
        .instances
        .iter()
        .map(|i| Value::Table(table([("addr", s(&i.addr.to_string()))])))
        .collect();
    let mut health = table([
        ("interval", dur(opts.health_interval)),
        ("timeout", dur(opts.health_timeout)),
    ]);
    match &dept.health {
        HealthProbe::Http { path } => {
            health.insert("kind".into(), s("http"));
            health.insert("path".into(), s(path));
        }
        HealthProbe::Grpc { service } => {
            health.insert("kind".into(), s("grpc"));
            health.insert("service".into(), s(service));
        }
    }
    let protocol = match dept.protocol {
        Protocol::Http => "http",
        Protocol::Grpc => "grpc",
    };
    // Citizen-keyed departments with several instances keep a citizen on one
    // instance (consistent hashing); the rest round-robin.
    let lb = if dept.matters.iter().any(|m| m.citizen_param.is_some()) && dept.instances.len() > 2 {
        "consistent_hash"
    } else {
        "round_robin"
    };
    let mut service = table([
        ("id", s("main")),
        ("protocol", s(protocol)),
        ("lb", s(lb)),
        ("instances", Value::Array(instances)),
        ("health", Value::Table(health)),
    ]);
    if opts.transcode && dept.protocol == Protocol::Grpc {
        service.insert("descriptor_set".into(), s(DESCRIPTOR_FILE));
    }
    if !opts.passive_health {
        service.insert(
            "outlier".into(),
            Value::Table(table([("consecutive_failures", Value::Integer(0))])),
        );
    }
    let routes = dept
        .matters
        .iter()
        .map(|m| {
            let mut r = table([
                ("id", s(&m.id)),
                ("name", s(&m.name)),
                ("description", s(&m.description)),
                ("methods", Value::Array(vec![s(&m.method)])),
                ("service", s("main")),
                ("connect_timeout", dur(opts.connect_timeout)),
                ("retries", Value::Integer(i64::from(opts.retries))),
            ]);
            let kind = if m.path.contains('{') {
                "template"
            } else {
                "path"
            };
            r.insert(kind.into(), s(&m.path));
            // Only a template parameter can carry the citizen id (gRPC
            // matters carry it in the message, which the gateway does not read).
            if let Some(p) = m
                .citizen_param
                .as_ref()
                .filter(|p| m.path.contains(&format!("{{{p}}}")))
            {
                r.insert("citizen_param".into(), s(p));
            }
            if opts.citizen_auth && onestop_sim::registrar::concerns_citizen(m) {
                r.insert("auth".into(), s("citizen"));
            }
            if let Some(item) = &m.data_item {
                r.insert("data_item".into(), s(item));
            }
            if opts.reference_cache && onestop_sim::registrar::is_public_reference(m) {
                r.insert(
                    "cache".into(),
                    Value::Table(table([("ttl", s("60s")), ("scope", s("public"))])),
                );
            }
            let timeout = if m.streaming {
                Duration::ZERO
            } else {
                opts.timeout
            };
            r.insert(
                "timeout".into(),
                if timeout.is_zero() {
                    s("0s")
                } else {
                    dur(timeout)
                },
            );
            Value::Table(r)
        })
        .collect();
    let mut file = table([
        ("department", Value::Table(department)),
        ("services", Value::Array(vec![Value::Table(service)])),
        ("routes", Value::Array(routes)),
    ]);
    if !dept.data_items.is_empty() {
        let items = dept
            .data_items
            .iter()
            .map(|item| Value::Table(data_item_table(item)))
            .collect();
        file.insert("data_items".into(), Value::Array(items));
    }
    toml::to_string(&file).unwrap_or_default()
}

/// A department file that only declares the department: its services
/// arrive through the control plane's registry.
pub fn department_header_toml(dept: &DeptManifest, opts: &Options) -> String {
    let department = department_table(dept, opts);
    let mut file = table([("department", Value::Table(department))]);
    // The data catalog (目录) is the platform's, declared in the file; the
    // services that answer its reads register.
    if !dept.data_items.is_empty() {
        file.insert(
            "data_items".into(),
            Value::Array(
                dept.data_items
                    .iter()
                    .map(|i| Value::Table(data_item_table(i)))
                    .collect(),
            ),
        );
    }
    format!(
        "# Services of this department register through the control plane.\n{}",
        toml::to_string(&file).unwrap_or_default()
    )
}

/// An `[[operators]]` entry of the gateway file.
pub fn operator_toml(name: &str, roles: &[&str], token_sha256: &str) -> String {
    let roles: Vec<String> = roles.iter().map(|r| format!("\"{r}\"")).collect();
    format!(
        "\n[[operators]]\nname = \"{name}\"\nroles = [{}]\ntoken_sha256 = \"{token_sha256}\"\n",
        roles.join(", ")
    )
}

/// A `[[channels]]` entry of the gateway file.
pub fn channel_toml(id: &str, name: &str, key_sha256: &str) -> String {
    format!(
        "\n[[channels]]\nid = \"{id}\"\nname = \"{name}\"\nkey_sha256 = \"{key_sha256}\"\nroutes = [\"*\"]\n"
    )
}

/// The gateway file for the given listeners.
pub fn gateway_toml(public: &str, control: &str, admin: &str, threads: usize) -> String {
    format!(
        "# Generated by onestop for a simulated fleet.\n\n[listeners]\npublic = \"{public}\"\ncontrol = \"{control}\"\nadmin = \"{admin}\"\n\n[proxy]\nthreads = {threads}\n"
    )
}

/// The demo's composite matters (一件事一次办), each across four
/// departments of the simulated fleet, as `(departments, gateway-file TOML)`.
/// Every step files an application with its department (an idempotent
/// `POST …/applications/{kind}`) and is undone by withdrawing it.
pub const LIFE_EVENTS: [(&[&str], &str); 3] = [
    (
        &["police", "hrss", "civil", "hpf"],
        r#"
[[composite]]
id = "newborn"
name = "新生儿出生一件事"
description = "出生登记、社保参保、生育补贴和公积金提取，一次提交"
lead = "police"
input = [{ name = "child_name" }, { name = "birth_date" }, { name = "hospital", required = false }]

[[composite.steps]]
id = "household"
name = "户口登记"
dept = "police"
path = "/api/v1/depts/police/applications/birth-registration"
body = { child_name = "{input.child_name}", birth_date = "{input.birth_date}", parent = "{citizen}" }
deadline = "5d"
compensate = { path = "/api/v1/depts/police/applications/birth-registration/{steps.household.application_id}/withdraw" }

[[composite.steps]]
id = "insurance"
name = "城乡居民医保参保"
dept = "hrss"
after = ["household"]
path = "/api/v1/depts/hrss/applications/child-insurance"
body = { household_ref = "{steps.household.application_id}", child_name = "{input.child_name}" }
deadline = "10d"
compensate = { path = "/api/v1/depts/hrss/applications/child-insurance/{steps.insurance.application_id}/withdraw" }

[[composite.steps]]
id = "allowance"
name = "生育补贴"
dept = "civil"
after = ["household"]
path = "/api/v1/depts/civil/applications/birth-allowance"
body = { household_ref = "{steps.household.application_id}" }
deadline = "15d"
compensate = { path = "/api/v1/depts/civil/applications/birth-allowance/{steps.allowance.application_id}/withdraw" }

[[composite.steps]]
id = "withdrawal"
name = "公积金生育提取"
dept = "hpf"
after = ["household"]
path = "/api/v1/depts/hpf/applications/birth-withdrawal"
body = { household_ref = "{steps.household.application_id}" }
deadline = "10d"
compensate = { path = "/api/v1/depts/hpf/applications/birth-withdrawal/{steps.withdrawal.application_id}/withdraw" }
"#,
    ),
    (
        &["police", "water", "power", "gas"],
        r#"
[[composite]]
id = "moving-house"
name = "迁居一件事"
description = "户籍迁移和水电气过户，一次提交"
lead = "police"
input = [{ name = "new_address" }, { name = "move_date" }]

[[composite.steps]]
id = "residence"
name = "户籍迁移"
dept = "police"
path = "/api/v1/depts/police/applications/residence-transfer"
body = { to = "{input.new_address}", on = "{input.move_date}" }
deadline = "5d"
compensate = { path = "/api/v1/depts/police/applications/residence-transfer/{steps.residence.application_id}/withdraw" }

[[composite.steps]]
id = "water"
name = "用水过户"
dept = "water"
after = ["residence"]
path = "/api/v1/depts/water/applications/account-transfer"
body = { address = "{input.new_address}", residence_ref = "{steps.residence.application_id}" }
deadline = "3d"
compensate = { path = "/api/v1/depts/water/applications/account-transfer/{steps.water.application_id}/withdraw" }

[[composite.steps]]
id = "power"
name = "用电过户"
dept = "power"
after = ["residence"]
path = "/api/v1/depts/power/applications/account-transfer"
body = { address = "{input.new_address}", residence_ref = "{steps.residence.application_id}" }
deadline = "3d"
compensate = { path = "/api/v1/depts/power/applications/account-transfer/{steps.power.application_id}/withdraw" }

[[composite.steps]]
id = "gas"
name = "用气过户"
dept = "gas"
after = ["residence"]
path = "/api/v1/depts/gas/applications/account-transfer"
body = { address = "{input.new_address}", residence_ref = "{steps.residence.application_id}" }
deadline = "3d"
compensate = { path = "/api/v1/depts/gas/applications/account-transfer/{steps.gas.application_id}/withdraw" }
"#,
    ),
    (
        &["market", "police", "hrss", "hpf"],
        r#"
[[composite]]
id = "opening-business"
name = "开办企业一件事"
description = "营业执照、公章刻制、社保和公积金单位登记，一次提交"
lead = "market"
input = [{ name = "company_name" }, { name = "capital", kind = "number" }, { name = "address" }]

[[composite.steps]]
id = "licence"
name = "营业执照"
dept = "market"
path = "/api/v1/depts/market/applications/business-licence"
body = { name = "{input.company_name}", capital = "{input.capital}", address = "{input.address}" }
deadline = "3d"
compensate = { path = "/api/v1/depts/market/applications/business-licence/{steps.licence.application_id}/withdraw" }

[[composite.steps]]
id = "seal"
name = "公章刻制备案"
dept = "police"
after = ["licence"]
path = "/api/v1/depts/police/applications/company-seal"
body = { licence = "{steps.licence.application_id}" }
deadline = "1d"
compensate = { path = "/api/v1/depts/police/applications/company-seal/{steps.seal.application_id}/withdraw" }

[[composite.steps]]
id = "social-security"
name = "单位社保登记"
dept = "hrss"
after = ["licence"]
path = "/api/v1/depts/hrss/applications/employer-registration"
body = { licence = "{steps.licence.application_id}" }
deadline = "5d"
compensate = { path = "/api/v1/depts/hrss/applications/employer-registration/{steps.social-security.application_id}/withdraw" }

[[composite.steps]]
id = "provident-fund"
name = "单位公积金开户"
dept = "hpf"
after = ["licence"]
path = "/api/v1/depts/hpf/applications/employer-account"
body = { licence = "{steps.licence.application_id}" }
deadline = "5d"
compensate = { path = "/api/v1/depts/hpf/applications/employer-account/{steps.provident-fund.application_id}/withdraw" }
"#,
    ),
];

/// The gateway-file TOML of every demo life event whose departments are
/// all in `fleet`.
pub fn life_events_toml(fleet: &FleetManifest) -> String {
    LIFE_EVENTS
        .iter()
        .filter(|(depts, _)| {
            depts
                .iter()
                .all(|d| fleet.departments.iter().any(|f| f.id == *d))
        })
        .map(|(_, text)| *text)
        .collect()
}

/// The purposes the demo life events read evidence for (`[[sharing.purposes]]`).
pub const EVIDENCE_PURPOSES: &str = r#"
[[sharing.purposes]]
code = "newborn"
name = "新生儿出生一件事"

[[sharing.purposes]]
code = "moving-house"
name = "迁居一件事"

[[sharing.purposes]]
code = "opening-business"
name = "开办企业一件事"

[[sharing.purposes]]
code = "single-matter"
name = "单项事项办理"
"#;

/// Evidence (一证通办) of the demo life events' steps: (step id, the
/// `evidence` line). Consumers need approved agreements for these
/// (consumer = the step's department, item, purpose), see [`EVIDENCE_NEEDS`].
pub const STEP_EVIDENCE: [(&str, &str); 5] = [
    (
        "insurance",
        r#"evidence = [{ name = "household", item = "police.household", fields = ["name", "address"], purpose = "newborn" }]"#,
    ),
    (
        "allowance",
        r#"evidence = [{ name = "household", item = "police.household", fields = ["name", "address"], purpose = "newborn" }]"#,
    ),
    (
        "withdrawal",
        r#"evidence = [{ name = "household", item = "police.household", fields = ["name", "address"], purpose = "newborn" }, { name = "marriage", item = "civil.marital_status", fields = ["status", "spouse_name"], purpose = "newborn" }, { name = "insurance", item = "hrss.social_insurance", fields = ["employer", "contribution_months"], purpose = "newborn" }]"#,
    ),
    (
        "water",
        r#"evidence = [{ name = "household", item = "police.household", fields = ["name", "address"], purpose = "moving-house" }]"#,
    ),
    (
        "social-security",
        r#"evidence = [{ name = "founder", item = "police.household", fields = ["name", "address"], purpose = "opening-business" }]"#,
    ),
];

/// The agreements the evidence of [`life_events_with_evidence_toml`] (and
/// the demo's single matters) needs: (consumer, item, fields, purpose).
pub const EVIDENCE_NEEDS: [(&str, &str, &[&str], &str); 10] = [
    ("hrss", "police.household", &["name", "address"], "newborn"),
    ("civil", "police.household", &["name", "address"], "newborn"),
    ("hpf", "police.household", &["name", "address"], "newborn"),
    (
        "hpf",
        "civil.marital_status",
        &["status", "spouse_name"],
        "newborn",
    ),
    (
        "hpf",
        "hrss.social_insurance",
        &["employer", "contribution_months"],
        "newborn",
    ),
    (
        "water",
        "police.household",
        &["name", "address"],
        "moving-house",
    ),
    (
        "hrss",
        "police.household",
        &["name", "address"],
        "opening-business",
    ),
    (
        "power",
        "police.household",
        &["name", "address"],
        "single-matter",
    ),
    (
        "gas",
        "police.household",
        &["name", "address"],
        "single-matter",
    ),
    (
        "hpf",
        "hrss.social_insurance",
        &["employer", "contribution_months"],
        "single-matter",
    ),
];

/// Single matters (one department, one step) that take their evidence
/// from other departments: new power and gas accounts read the household
/// register, a provident-fund loan reads the social insurance record.
pub const SINGLE_MATTERS: [(&[&str], &str); 3] = [
    (
        &["power", "police"],
        r#"
[[composite]]
id = "power-account"
name = "居民用电开户"
input = [{ name = "meter_address" }]

[[composite.steps]]
id = "open"
dept = "power"
path = "/api/v1/depts/power/applications/new-account"
body = { meter_address = "{input.meter_address}" }
deadline = "3d"
evidence = [{ name = "household", item = "police.household", fields = ["name", "address"], purpose = "single-matter" }]
"#,
    ),
    (
        &["gas", "police"],
        r#"
[[composite]]
id = "gas-account"
name = "居民用气开户"
input = [{ name = "meter_address" }]

[[composite.steps]]
id = "open"
dept = "gas"
path = "/api/v1/depts/gas/applications/new-account"
body = { meter_address = "{input.meter_address}" }
deadline = "3d"
evidence = [{ name = "household", item = "police.household", fields = ["name", "address"], purpose = "single-matter" }]
"#,
    ),
    (
        &["hpf", "hrss"],
        r#"
[[composite]]
id = "hpf-loan"
name = "公积金贷款申请"
input = [{ name = "amount", kind = "number" }]

[[composite.steps]]
id = "apply"
dept = "hpf"
path = "/api/v1/depts/hpf/applications/loan"
body = { amount = "{input.amount}" }
deadline = "10d"
evidence = [{ name = "insurance", item = "hrss.social_insurance", fields = ["employer", "contribution_months"], purpose = "single-matter" }]
"#,
    ),
];

/// [`life_events_toml`] with the steps' evidence (and its purposes): the
/// steps read what police, civil affairs and social security hold instead
/// of asking the citizen.
pub fn life_events_with_evidence_toml(fleet: &FleetManifest) -> String {
    let mut text = life_events_toml(fleet);
    for (step, line) in STEP_EVIDENCE {
        let marker = format!("\nid = \"{step}\"\n");
        text = text.replacen(&marker, &format!("{marker}{line}\n"), 1);
    }
    for (depts, matter) in SINGLE_MATTERS {
        if depts
            .iter()
            .all(|d| fleet.departments.iter().any(|f| f.id == *d))
        {
            text.push_str(matter);
        }
    }
    text.push_str(EVIDENCE_PURPOSES);
    text
}

/// Writes `dir/departments/<id>.toml` for every department of the fleet.
pub fn write_departments(dir: &Path, fleet: &FleetManifest, opts: &Options) -> std::io::Result<()> {
    let departments = dir.join("departments");
    std::fs::create_dir_all(&departments)?;
    write_descriptor_set(&departments)?;
    for dept in &fleet.departments {
        write_atomically(
            &departments.join(format!("{}.toml", dept.id)),
            &department_toml(dept, opts),
        )?;
    }
    Ok(())
}

/// Writes a file so that readers never see it half-written.
pub fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use onestop_sim::manifest::*;

    #[test]
    fn generated_department_files_validate() {
        let dept = DeptManifest {
            id: "hpf".into(),
            name: "住房公积金管理中心".into(),
            name_en: "Housing Provident Fund".into(),
            protocol: Protocol::Http,
            grpc_service: None,
            health: HealthProbe::Http {
                path: "/healthz".into(),
            },
            instances: (0..3)
                .map(|n| InstanceManifest {
                    id: format!("hpf-{n}"),
                    addr: format!("127.0.0.1:{}", 9000 + n).parse().expect("addr"),
                })
                .collect(),
            matters: vec![MatterManifest {
                id: "balance".into(),
                name: "公积金余额查询".into(),
                description: "余额".into(),
                method: "GET".into(),
                path: "/api/v1/depts/hpf/accounts/{citizen}".into(),
                citizen_param: Some("citizen".into()),
                streaming: false,
                example: MatterExample {
                    path: "/api/v1/depts/hpf/accounts/x".into(),
                    body: None,
                },
                data_item: None,
            }],
            data_items: Vec::new(),
        };
        let text = department_toml(&dept, &Options::default());
        let config = onestop_config::parse_sources(
            None,
            vec![onestop_config::Source::new("hpf.toml", text.clone())],
        );
        let config = match config {
            Ok(c) => c,
            Err(e) => panic!("{e}\n{text}"),
        };
        let file = &config.departments[0].file;
        assert_eq!(file.services[0].instances.len(), 3);
        assert_eq!(
            file.services[0].lb,
            onestop_config::LbAlgorithm::ConsistentHash
        );
        assert_eq!(file.routes[0].citizen_param.as_deref(), Some("citizen"));
        assert_eq!(file.routes[0].timeout, Some(Duration::from_secs(5)));
        assert!(file.department.overview.is_none());
    }

    #[test]
    fn a_department_with_an_overview_matter_declares_its_item() {
        let dept = DeptManifest {
            id: "water".into(),
            name: "供水公司".into(),
            name_en: "Water".into(),
            protocol: Protocol::Http,
            grpc_service: None,
            health: HealthProbe::Http {
                path: "/healthz".into(),
            },
            instances: vec![InstanceManifest {
                id: "water-0".into(),
                addr: "127.0.0.1:9100".parse().expect("addr"),
            }],
            matters: vec![MatterManifest {
                id: "overview".into(),
                name: "概览".into(),
                description: "摘要".into(),
                method: "GET".into(),
                path: "/api/v1/depts/water/overview/{citizen}".into(),
                citizen_param: Some("citizen".into()),
                streaming: false,
                example: MatterExample {
                    path: "/api/v1/depts/water/overview/x".into(),
                    body: None,
                },
                data_item: None,
            }],
            data_items: Vec::new(),
        };
        let opts = Options {
            overview_timeout: Duration::from_millis(300),
            ..Options::default()
        };
        for text in [
            department_toml(&dept, &opts),
            department_header_toml(&dept, &opts),
        ] {
            let config = onestop_config::parse_sources(
                None,
                vec![onestop_config::Source::new("water.toml", text.clone())],
            );
            let config = match config {
                Ok(c) => c,
                Err(e) => panic!("{e}\n{text}"),
            };
            let item = config.departments[0].file.department.overview.clone();
            let item = item.expect("an overview item");
            assert_eq!(item.get_ref().path, "/api/v1/depts/water/overview/me");
            assert_eq!(item.get_ref().timeout, Duration::from_millis(300));
        }
    }

    /// The files of the whole demo fleet, data catalog included, parse and
    /// validate together, and every item of the sim's catalog is declared
    /// with the routes that serve it.
    #[tokio::test]
    async fn the_whole_fleet_with_its_data_catalog_validates() {
        let fleet = onestop_sim::Fleet::start(onestop_sim::FleetOptions {
            citizens: 20,
            ..onestop_sim::FleetOptions::default()
        })
        .await
        .expect("fleet starts");
        let manifest = fleet.manifest().clone();
        fleet.shutdown().await;
        // The gRPC departments' descriptor set lies beside their files.
        let dir = tempfile::tempdir().expect("tempdir");
        write_descriptor_set(dir.path()).expect("descriptor set");
        let sources = manifest
            .departments
            .iter()
            .map(|d| {
                onestop_config::Source::new(
                    dir.path().join(format!("{}.toml", d.id)),
                    department_toml(d, &Options::default()),
                )
            })
            .collect();
        let config = match onestop_config::parse_sources(None, sources) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(config.departments.len(), 32);
        let file = |id: &str| {
            &config
                .departments
                .iter()
                .find(|d| d.file.department.id.get_ref() == id)
                .expect("department file")
                .file
        };

        let hrss = file("hrss");
        let social = hrss
            .data_items
            .iter()
            .find(|i| i.id.get_ref() == "social_insurance")
            .expect("hrss declares social_insurance");
        assert_eq!(social.fields.len(), 8);
        assert_eq!(social.sharing, onestop_config::SharingClass::Conditional);
        assert!(!social.provider_approval);
        assert_eq!(
            social.fetch.get_ref(),
            "/api/v1/depts/hrss/data/social-insurance/{citizen}"
        );
        let card = social
            .fields
            .iter()
            .find(|f| f.name == "bank_card")
            .expect("bank_card");
        assert_eq!(card.kind, onestop_config::FieldType::String);
        assert_eq!(card.masking(), Some(onestop_config::MaskKind::BankCard));
        let months = social
            .fields
            .iter()
            .find(|f| f.name == "contribution_months")
            .expect("contribution_months");
        assert_eq!(months.kind, onestop_config::FieldType::Integer);
        assert_eq!(months.sensitivity, onestop_config::Sensitivity::Internal);
        assert_eq!(months.mask, None);

        // Every item of the catalog, as the sim declares it, with its route.
        let catalog = onestop_sim::catalog::data_items();
        assert_eq!(catalog.len(), 6);
        for entry in &catalog {
            let f = file(entry.dept);
            let item = f
                .data_items
                .iter()
                .find(|i| i.id.get_ref() == &entry.item.id)
                .unwrap_or_else(|| panic!("{}.{} declared", entry.dept, entry.item.id));
            assert_eq!(item.sharing.as_str(), entry.item.sharing.as_str());
            assert_eq!(item.provider_approval, entry.item.provider_approval);
            assert_eq!(item.fetch.get_ref(), &entry.item.fetch);
            let declared: Vec<serde_json::Value> = item
                .fields
                .iter()
                .map(|f| serde_json::json!([f.name, f.kind, f.sensitivity, f.mask]))
                .collect();
            let expected: Vec<serde_json::Value> = entry
                .item
                .fields
                .iter()
                .map(|f| serde_json::json!([f.name, f.kind, f.sensitivity, f.mask]))
                .collect();
            assert_eq!(declared, expected, "{}.{}", entry.dept, entry.item.id);
            let routes: Vec<_> = f
                .routes
                .iter()
                .filter(|r| r.data_item.as_deref() == Some(entry.item.id.as_str()))
                .collect();
            assert_eq!(routes.len(), 1, "{}.{}", entry.dept, entry.item.id);
            let route = routes[0];
            assert_eq!(
                route.template.as_ref().map(|t| t.get_ref().as_str()),
                Some(entry.item.fetch.as_str())
            );
            assert_eq!(route.citizen_param.as_deref(), Some("citizen"));
        }
        // Departments without a catalog declare nothing.
        assert!(file("water").data_items.is_empty());
        assert!(file("traffic").data_items.is_empty());
        let with_item = config
            .departments
            .iter()
            .flat_map(|d| &d.file.routes)
            .filter(|r| r.data_item.is_some())
            .count();
        assert_eq!(with_item, 6);
    }

    /// The fleet's descriptor set binds HTTP paths under tax's and
    /// traffic's own prefixes; another department serving those services
    /// is refused, naming the method and the path.
    #[test]
    fn http_bindings_must_lie_under_the_serving_department() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_descriptor_set(dir.path()).expect("descriptor set");
        let text = |dept: &str| {
            format!(
                r#"
[department]
id = "{dept}"
name = "x"

[[services]]
id = "main"
protocol = "grpc"
instances = [{{ addr = "127.0.0.1:9001" }}]
descriptor_set = "{DESCRIPTOR_FILE}"

[[routes]]
id = "tax"
prefix = "/onestop.sim.tax.v1.TaxBureau/"
service = "main"
"#
            )
        };
        let parse = |dept: &str| {
            onestop_config::parse_sources(
                None,
                vec![onestop_config::Source::new(
                    dir.path().join(format!("{dept}.toml")),
                    text(dept),
                )],
            )
        };
        let config = match parse("tax") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let table = onestop_config::transcode::compile(&config).expect("table");
        let methods: Vec<&str> = table.services()[0]
            .methods
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(methods, ["GetTaxSummary", "FileReturn", "ListTaxRecords"]);

        let Err(problems) = parse("other") else {
            panic!("another department may not serve tax's paths");
        };
        let text = problems.to_string();
        assert!(
            text.contains(
                "/onestop.sim.tax.v1.TaxBureau/GetTaxSummary: the HTTP path /api/v1/depts/tax/citizens/{citizen_id}/summary/{year} is not under /api/v1/depts/other/"
            ),
            "{text}"
        );
        assert_eq!(problems.0.len(), 4, "{text}");
    }
}
