//! The layering rules of SPEC.md, checked against `cargo metadata`:
//! `domain` reaches no framework, database or runtime crate; only `http`
//! depends on actix; only `persistence` on diesel/redis; no crate of ours
//! depends on one in its own or a higher layer.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use serde_json::Value;

/// Our crates, by layer. A crate may depend only on crates of lower layers.
const LAYERS: &[(&str, u8)] = &[
    ("heyclaw-domain", 0),
    ("heyclaw-persistence", 1),
    ("heyclaw-gateway-client", 1),
    ("heyclaw-tts", 1),
    ("heyclaw-billing", 1),
    ("heyclaw-agent-provisioning", 1),
    ("heyclaw-app", 2),
    ("heyclaw-keeper", 2),
    ("heyclaw-http", 3),
    ("heyclaw-api", 4),
    ("heyclaw-test-support", 5),
    ("heyclaw-dev-model", 5),
    ("xtask", 6),
];

/// Crates `domain` must not reach, even transitively: it is pure.
const IMPURE: &[&str] = &[
    "actix-web",
    "actix-http",
    "actix-rt",
    "diesel",
    "diesel-async",
    "redis",
    "deadpool-redis",
    "tokio",
    "reqwest",
    "hyper",
    "bollard",
    "lettre",
];

/// Crates only one of ours may depend on directly. Tooling (test support,
/// xtask) is exempt: it sits above every layer.
const OWNED: &[(&str, &[&str])] = &[
    (
        "heyclaw-http",
        &[
            "actix-web",
            "actix-http",
            "actix-cors",
            "actix-multipart",
            "tracing-actix-web",
        ],
    ),
    (
        "heyclaw-persistence",
        &[
            "diesel",
            "diesel-async",
            "diesel_migrations",
            "redis",
            "deadpool-redis",
        ],
    ),
    ("heyclaw-billing", &["app-store-server-library"]),
];
const TOOLING: &[&str] = &["heyclaw-test-support", "heyclaw-dev-model", "xtask"];

/// Each workspace crate with its direct and transitive normal dependencies.
#[derive(Debug, Default)]
pub struct Graph {
    pub direct: BTreeMap<String, BTreeSet<String>>,
    pub transitive: BTreeMap<String, BTreeSet<String>>,
}

pub fn run() -> Result<()> {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .output()
        .context("running cargo metadata")?;
    anyhow::ensure!(output.status.success(), "cargo metadata failed");
    let metadata: Value = serde_json::from_slice(&output.stdout)?;
    let violations = check(&graph_from_metadata(&metadata)?);
    if violations.is_empty() {
        println!("layering: ok");
        Ok(())
    } else {
        for violation in &violations {
            eprintln!("layering violation: {violation}");
        }
        anyhow::bail!("{} layering violation(s)", violations.len())
    }
}

pub fn graph_from_metadata(metadata: &Value) -> Result<Graph> {
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .context("packages")?
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let mut normal_deps: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in metadata["resolve"]["nodes"]
        .as_array()
        .context("resolve.nodes")?
    {
        let id = node["id"].as_str().context("node id")?;
        let deps = node["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|dep| {
                dep["dep_kinds"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
            })
            .filter_map(|dep| dep["pkg"].as_str())
            .collect();
        normal_deps.insert(id, deps);
    }
    let mut graph = Graph::default();
    for member in metadata["workspace_members"]
        .as_array()
        .context("workspace_members")?
    {
        let id = member.as_str().context("member id")?;
        let name = names.get(id).context("member name")?.to_string();
        let direct = normal_deps
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|d| names.get(d))
            .map(|n| n.to_string())
            .collect();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = normal_deps.get(id).cloned().unwrap_or_default();
        while let Some(next) = stack.pop() {
            if seen.insert(next) {
                stack.extend(normal_deps.get(next).into_iter().flatten());
            }
        }
        let transitive = seen
            .iter()
            .filter_map(|d| names.get(d))
            .map(|n| n.to_string())
            .collect();
        graph.direct.insert(name.clone(), direct);
        graph.transitive.insert(name, transitive);
    }
    Ok(graph)
}

pub fn check(graph: &Graph) -> Vec<String> {
    let layer = |name: &str| LAYERS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l);
    let mut violations = Vec::new();
    if let Some(reached) = graph.transitive.get("heyclaw-domain") {
        for impure in IMPURE.iter().filter(|c| reached.contains(**c)) {
            violations.push(format!(
                "heyclaw-domain reaches {impure}; domain must stay free of I/O and frameworks"
            ));
        }
    }
    for (krate, deps) in &graph.direct {
        for (owner, owned) in OWNED {
            if krate == owner || TOOLING.contains(&krate.as_str()) {
                continue;
            }
            for dep in owned.iter().filter(|d| deps.contains(**d)) {
                violations.push(format!("{krate} depends on {dep}; only {owner} may"));
            }
        }
        let Some(own_layer) = layer(krate) else {
            violations.push(format!("{krate} has no layer in xtask/src/layering.rs"));
            continue;
        };
        for dep in deps {
            if let Some(dep_layer) = layer(dep)
                && dep_layer >= own_layer
            {
                violations.push(format!("{krate} (layer {own_layer}) depends on {dep} (layer {dep_layer}); dependencies must point down"));
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])], transitive: &[(&str, &[&str])]) -> Graph {
        let to_map = |pairs: &[(&str, &[&str])]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        Graph {
            direct: to_map(edges),
            transitive: to_map(transitive),
        }
    }

    #[test]
    fn a_clean_graph_passes() {
        let g = graph(
            &[
                ("heyclaw-domain", &["serde"]),
                ("heyclaw-persistence", &["heyclaw-domain", "diesel"]),
                ("heyclaw-http", &["heyclaw-persistence", "actix-web"]),
            ],
            &[("heyclaw-domain", &["serde", "serde_derive"])],
        );
        assert_eq!(check(&g), Vec::<String>::new());
    }

    #[test]
    fn domain_reaching_a_database_crate_fails() {
        let g = graph(
            &[("heyclaw-domain", &["some-orm-wrapper"])],
            &[("heyclaw-domain", &["some-orm-wrapper", "diesel"])],
        );
        let v = check(&g);
        assert_eq!(v.len(), 1);
        assert!(v[0].contains("heyclaw-domain reaches diesel"), "{v:?}");
    }

    #[test]
    fn actix_outside_http_fails() {
        let v = check(&graph(&[("heyclaw-app", &["actix-web"])], &[]));
        assert_eq!(
            v,
            ["heyclaw-app depends on actix-web; only heyclaw-http may"]
        );
    }

    #[test]
    fn redis_outside_persistence_fails() {
        let v = check(&graph(&[("heyclaw-app", &["deadpool-redis"])], &[]));
        assert_eq!(
            v,
            ["heyclaw-app depends on deadpool-redis; only heyclaw-persistence may"]
        );
    }

    #[test]
    fn reaching_up_fails() {
        let v = check(&graph(
            &[
                ("heyclaw-persistence", &["heyclaw-app"]),
                ("heyclaw-tts", &["heyclaw-gateway-client"]),
            ],
            &[],
        ));
        assert_eq!(v.len(), 2, "{v:?}");
    }

    #[test]
    fn the_real_workspace_passes() {
        let output = std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1"])
            .output()
            .unwrap();
        let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
        let g = graph_from_metadata(&metadata).unwrap();
        assert!(g.direct.contains_key("heyclaw-domain"));
        assert_eq!(check(&g), Vec::<String>::new());
    }
}
