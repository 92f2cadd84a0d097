//! `GET /api/v1/catalog`: every matter (事项) the gateway serves.

use serde::Serialize;

/// One catalog entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Matter {
    /// `dept/route`.
    pub id: String,
    pub name: String,
    pub dept: String,
    pub method: String,
    pub path: String,
    /// Who may call it. Every route is `public` until citizen identity exists.
    pub auth: String,
    pub description: String,
    /// Client credentials this route passes through to the department
    /// (`forward_credentials`); absent when none, the default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forward_credentials: Vec<String>,
    /// For a gRPC matter: each method's HTTP/JSON binding (transcoding),
    /// beside its gRPC path, so it can be called without a gRPC client.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub json_bindings: Vec<JsonBinding>,
}

/// One HTTP binding of a gRPC method.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JsonBinding {
    /// `/{package.Service}/{Method}`.
    pub grpc_path: String,
    /// The HTTP method, e.g. `GET` or `POST`.
    pub method: String,
    /// The path template, e.g. `/api/v1/depts/tax/returns/{year}`.
    pub path: String,
}

/// Fills `json_bindings` of the gRPC matters (`grpc`: whether each matter
/// is served over gRPC) from the transcoding table: every method whose
/// gRPC path the matter's path names (exactly, or as its service prefix).
pub fn attach_bindings(matters: &mut [Matter], grpc: &[bool], table: &onestop_transcode::Table) {
    for (matter, _) in matters.iter_mut().zip(grpc).filter(|(_, g)| **g) {
        matter.json_bindings = table
            .services()
            .iter()
            .flat_map(|s| s.methods.iter())
            .filter(|m| {
                m.grpc_path == matter.path
                    || (matter.path.ends_with('/') && m.grpc_path.starts_with(&matter.path))
            })
            .flat_map(|m| {
                m.bindings.iter().map(|b| JsonBinding {
                    grpc_path: m.grpc_path.clone(),
                    method: b.verb.to_string(),
                    path: b.template.to_string(),
                })
            })
            .collect();
    }
}

#[derive(Serialize)]
struct Catalog<'a> {
    matters: Vec<&'a Matter>,
}

/// The catalog filtered by the `q` (case-insensitive text) and `dept` query parameters.
pub fn render(matters: &[Matter], query: Option<&str>) -> Vec<u8> {
    let mut q = None;
    let mut dept = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*k {
            "q" if !v.is_empty() => q = Some(v.to_lowercase()),
            "dept" if !v.is_empty() => dept = Some(v.into_owned()),
            _ => {}
        }
    }
    let selected = matters
        .iter()
        .filter(|m| dept.as_deref().is_none_or(|d| m.dept == d))
        .filter(|m| {
            q.as_deref().is_none_or(|q| {
                [&m.id, &m.name, &m.description, &m.path]
                    .iter()
                    .any(|f| f.to_lowercase().contains(q))
            })
        })
        .collect();
    serde_json::to_vec(&Catalog { matters: selected }).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matter(dept: &str, id: &str, name: &str) -> Matter {
        Matter {
            id: format!("{dept}/{id}"),
            name: name.into(),
            dept: dept.into(),
            method: "GET".into(),
            path: format!("/api/v1/depts/{dept}/{id}"),
            auth: "public".into(),
            description: String::new(),
            forward_credentials: Vec::new(),
            json_bindings: Vec::new(),
        }
    }

    fn ids(body: &[u8]) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        v["matters"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn filters_by_dept_and_text() {
        let all = vec![
            matter("hpf", "balance", "公积金余额查询"),
            matter("water", "bills", "水费账单"),
            matter("hpf", "loans", "贷款查询"),
        ];
        assert_eq!(ids(&render(&all, None)).len(), 3);
        assert_eq!(
            ids(&render(&all, Some("dept=hpf"))),
            ["hpf/balance", "hpf/loans"]
        );
        let q = "q=%E6%B0%B4%E8%B4%B9"; // 水费
        assert_eq!(ids(&render(&all, Some(q))), ["water/bills"]);
        assert_eq!(ids(&render(&all, Some("q=LOANS&dept=hpf"))), ["hpf/loans"]);
        assert!(ids(&render(&all, Some("dept=tax"))).is_empty());
    }
}
