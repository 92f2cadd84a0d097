//! The department catalogue: who the 32 departments are, how they speak and
//! how many instances each runs, in the fixed order `departments: N` takes
//! from; and the demo data catalog, the records some of them hold on
//! citizens and may share ([`data_items`]).

use crate::manifest::{DataItemManifest, Protocol};

/// One item of the demo data catalog and the department that holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogDataItem {
    /// The department's id, e.g. `hrss`.
    pub dept: &'static str,
    /// The item as the department's manifest lists it.
    pub item: DataItemManifest,
}

/// Every data item of the demo catalog, in department order (whatever
/// number of departments a fleet runs: a fleet lists only its own
/// departments' items in [`crate::manifest::DeptManifest::data_items`]).
pub fn data_items() -> Vec<CatalogDataItem> {
    DEPARTMENTS
        .iter()
        .filter(|d| d.protocol == Protocol::Http)
        .flat_map(|d| {
            crate::http::data_items(d.id)
                .into_iter()
                .map(|item| CatalogDataItem { dept: d.id, item })
        })
        .collect()
}

/// The data items of department `dept` (empty for departments, or ids,
/// that hold none).
pub fn department_data_items(dept: &str) -> Vec<DataItemManifest> {
    data_items()
        .into_iter()
        .filter(|i| i.dept == dept)
        .map(|i| i.item)
        .collect()
}

/// One department of the simulated city.
#[derive(Debug)]
pub(crate) struct Department {
    /// Short id, also the path segment under `/api/v1/depts/`.
    pub id: &'static str,
    pub name: &'static str,
    pub name_en: &'static str,
    pub protocol: Protocol,
    /// How many instances (each its own socket) the department runs.
    pub instances: usize,
}

const fn http(
    id: &'static str,
    name: &'static str,
    name_en: &'static str,
    instances: usize,
) -> Department {
    Department {
        id,
        name,
        name_en,
        protocol: Protocol::Http,
        instances,
    }
}

const fn grpc(
    id: &'static str,
    name: &'static str,
    name_en: &'static str,
    instances: usize,
) -> Department {
    Department {
        id,
        name,
        name_en,
        protocol: Protocol::Grpc,
        instances,
    }
}

/// Every department, in catalogue order.
pub(crate) const DEPARTMENTS: [Department; 32] = [
    http(
        "hrss",
        "人力资源和社会保障局",
        "Human Resources and Social Security Bureau",
        3,
    ),
    http(
        "hpf",
        "住房公积金管理中心",
        "Housing Provident Fund Management Centre",
        3,
    ),
    http("water", "自来水公司", "Water Supply Company", 3),
    http("power", "供电公司", "Electric Power Supply Company", 2),
    http("gas", "燃气公司", "Gas Company", 1),
    grpc("traffic", "公安交通管理局", "Traffic Police Bureau", 3),
    grpc("tax", "税务局", "Tax Bureau", 2),
    grpc("health", "卫生健康委员会", "Health Commission", 2),
    grpc("medins", "医疗保障局", "Medical Security Bureau", 2),
    http("civil", "民政局", "Civil Affairs Bureau", 1),
    http("edu", "教育局", "Education Bureau", 1),
    http(
        "market",
        "市场监督管理局",
        "Administration for Market Regulation",
        1,
    ),
    http(
        "police",
        "公安局户政",
        "Public Security Bureau, Household Registration",
        1,
    ),
    http("transport", "交通运输局", "Transport Bureau", 1),
    http(
        "housing",
        "住房和城乡建设委员会",
        "Housing and Urban-Rural Development Commission",
        1,
    ),
    http(
        "nature",
        "规划和自然资源局",
        "Planning and Natural Resources Bureau",
        1,
    ),
    http("ecology", "生态环境局", "Ecology and Environment Bureau", 1),
    http(
        "culture",
        "文化和旅游发展委员会",
        "Culture and Tourism Development Commission",
        1,
    ),
    http("sports", "体育局", "Sports Bureau", 1),
    http("veterans", "退役军人事务局", "Veterans Affairs Bureau", 1),
    http(
        "disabled",
        "残疾人联合会",
        "Disabled Persons' Federation",
        1,
    ),
    http("court", "人民法院", "People's Court", 1),
    http("procurator", "人民检察院", "People's Procuratorate", 1),
    http("notary", "公证处", "Notary Public Office", 1),
    http("archives", "档案馆", "Municipal Archives", 1),
    http("stats", "统计局", "Statistics Bureau", 1),
    http(
        "agri",
        "农业农村委员会",
        "Agriculture and Rural Affairs Commission",
        1,
    ),
    http("commerce", "商务委员会", "Commerce Commission", 1),
    http("science", "科学技术局", "Science and Technology Bureau", 1),
    http("emergency", "应急管理局", "Emergency Management Bureau", 1),
    http("weather", "气象局", "Meteorological Bureau", 1),
    http("postal", "邮政管理局", "Postal Administration", 1),
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn catalogue_shape() {
        let ids: HashSet<_> = DEPARTMENTS.iter().map(|d| d.id).collect();
        assert_eq!(ids.len(), 32);
        let grpc: Vec<_> = DEPARTMENTS
            .iter()
            .filter(|d| d.protocol == Protocol::Grpc)
            .map(|d| d.id)
            .collect();
        assert_eq!(grpc, ["traffic", "tax", "health", "medins"]);
        let count = |id: &str| DEPARTMENTS.iter().find(|d| d.id == id).map(|d| d.instances);
        for id in ["hrss", "hpf", "traffic", "water"] {
            assert_eq!(count(id), Some(3), "{id}");
        }
        for id in ["power", "tax", "medins", "health"] {
            assert_eq!(count(id), Some(2), "{id}");
        }
        let total: usize = DEPARTMENTS.iter().map(|d| d.instances).sum();
        assert_eq!(total, 4 * 3 + 4 * 2 + 24);
    }
}
