//! `cargo xtask deploy-files`: the deployment files checked without a
//! Docker engine or a cluster (none runs here).
//!
//! - `docker-compose.yml` is validated by Debian's `docker-compose config`
//!   (with `.env.example` standing in for `.env.production`);
//! - the Kubernetes overlay is rendered with `kubectl kustomize` and every
//!   object validated offline against the Kubernetes schemas
//!   (`kubernetes-validate`, pinned, in a venv), strictly; a deliberately
//!   broken object must fail, so the validator is known to look; the API's
//!   shard list must name exactly the gateway StatefulSet's pods. The
//!   rendered YAML is kept in `target/k8s/example.yaml`;
//! - the Dockerfiles' basics: base images pinned to a tag (never `latest`),
//!   no `ADD` of URLs, cargo builds `--locked`, every local `COPY` source
//!   present.

use std::{path::Path, process::Command};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";

pub fn run() -> Result<()> {
    compose()?;
    kubernetes()?;
    dockerfiles()?;
    println!("deploy-files: compose, Kubernetes manifests and Dockerfiles check out");
    Ok(())
}

fn compose() -> Result<()> {
    crate::tools::ensure_debian_packages(&["/usr/bin/docker-compose"], &["docker-compose"])?;
    let root = crate::repo_root();
    let scratch = std::env::temp_dir().join(format!("heyclaw-compose-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    // The compose file reads .env.production beside it: check it with the
    // example settings, in a copy of the repository's compose file.
    std::fs::copy(
        root.join("docker-compose.yml"),
        scratch.join("docker-compose.yml"),
    )?;
    std::fs::copy(root.join(".env.example"), scratch.join(".env.production"))?;
    let output = Command::new("docker-compose")
        .arg("--project-directory")
        .arg(&scratch)
        .arg("-f")
        .arg(scratch.join("docker-compose.yml"))
        .args(["config", "--services"])
        .output()
        .context("running docker-compose config")?;
    let _ = std::fs::remove_dir_all(&scratch);
    ensure!(
        output.status.success(),
        "docker-compose.yml is invalid:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let services = String::from_utf8_lossy(&output.stdout).into_owned();
    for wanted in ["api", "gateway-a", "gateway-b", "postgres", "redis"] {
        ensure!(
            services.lines().any(|s| s.trim() == wanted),
            "docker-compose.yml has no `{wanted}` service (has: {})",
            services.split_whitespace().collect::<Vec<_>>().join(", ")
        );
    }
    println!(
        "docker-compose config: ok ({})",
        services.split_whitespace().collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

fn kubernetes() -> Result<()> {
    crate::tools::ensure_debian_packages(&["/usr/bin/kubectl"], &["kubernetes-client"])?;
    let venv =
        heyclaw_test_support::real_gateway::cache_dir().join("tools/kubernetes-validate-1.37.0");
    if !venv.join("bin/kubernetes-validate").exists() {
        let venv_arg = venv.to_string_lossy().into_owned();
        crate::run_cmd("python3", &["-m", "venv", &venv_arg])?;
        let pip = venv.join("bin/pip").to_string_lossy().into_owned();
        crate::run_cmd(&pip, &["install", "--quiet", KUBERNETES_VALIDATE])?;
    }
    let overlay = crate::repo_root().join("infrastructure/k8s/overlays/example");
    let rendered = Command::new("kubectl")
        .arg("kustomize")
        .arg(&overlay)
        .output()
        .context("running kubectl kustomize")?;
    ensure!(
        rendered.status.success(),
        "kubectl kustomize {} failed:\n{}",
        overlay.display(),
        String::from_utf8_lossy(&rendered.stderr)
    );
    let out_dir = crate::target_dir().join("k8s");
    std::fs::create_dir_all(&out_dir)?;
    let file = out_dir.join("example.yaml");
    std::fs::write(&file, &rendered.stdout)?;
    validate(&venv, &file)?;

    // The validator must reject a broken object, or it checks nothing.
    let broken = out_dir.join("broken.yaml");
    std::fs::write(
        &broken,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\nspec:\n  replicas: two\n",
    )?;
    ensure!(
        validate(&venv, &broken).is_err(),
        "kubernetes-validate accepted a Deployment with `replicas: two`"
    );

    // The API's shard list names exactly the StatefulSet's pods.
    let objects = to_json(&venv, &file)?;
    let find = |kind: &str| {
        objects
            .iter()
            .find(|o| o["kind"] == kind)
            .with_context(|| format!("no {kind} rendered"))
    };
    let statefulset = find("StatefulSet")?;
    let name = statefulset["metadata"]["name"].as_str().unwrap_or_default();
    let replicas = statefulset["spec"]["replicas"].as_u64().unwrap_or(0);
    let gateways = find("ConfigMap")?["data"]["GATEWAYS"]
        .as_str()
        .context("the settings ConfigMap has no GATEWAYS")?;
    let ids: Vec<&str> = gateways
        .split(',')
        .filter_map(|entry| entry.split('|').next())
        .collect();
    let pods: Vec<String> = (0..replicas).map(|i| format!("{name}-{i}")).collect();
    ensure!(
        ids == pods.iter().map(String::as_str).collect::<Vec<_>>(),
        "GATEWAYS lists {ids:?} but the StatefulSet runs {pods:?}"
    );
    println!(
        "kubernetes: {} objects rendered and valid ({}); shards {ids:?}",
        objects.len(),
        file.display()
    );
    Ok(())
}

fn validate(venv: &Path, file: &Path) -> Result<()> {
    let output = Command::new(venv.join("bin/kubernetes-validate"))
        .args(["--strict", "--quiet"])
        .arg(file)
        .output()
        .context("running kubernetes-validate")?;
    if output.status.success() {
        Ok(())
    } else {
        bail!(
            "{} does not validate:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }
}

/// Every object of a multi-document YAML file, as JSON (with the venv's
/// PyYAML, which kubernetes-validate brings).
fn to_json(venv: &Path, file: &Path) -> Result<Vec<Value>> {
    let output = Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))",
        ])
        .arg(file)
        .output()
        .context("converting the rendered YAML")?;
    ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn dockerfiles() -> Result<()> {
    let root = crate::repo_root();
    let mut problems = Vec::new();
    for name in ["api.Dockerfile", "gateway.Dockerfile"] {
        let path = root.join("infrastructure").join(name);
        let text = std::fs::read_to_string(&path)?;
        // `FROM <stage>` names an earlier stage, not an image.
        let mut stages: Vec<String> = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            let at = format!("{name}:{}", number + 1);
            if let Some(from) = line.strip_prefix("FROM ") {
                let words: Vec<&str> = from.split_whitespace().collect();
                let image = words.first().copied().unwrap_or_default();
                if let [_, as_word, stage] = words.as_slice()
                    && as_word.eq_ignore_ascii_case("as")
                {
                    stages.push((*stage).to_owned());
                }
                let is_stage = stages.iter().any(|stage| stage == image);
                if !is_stage && (!image.contains(':') || image.ends_with(":latest")) {
                    problems.push(format!("{at}: base image `{image}` is not pinned to a tag"));
                }
            }
            if line.starts_with("ADD ") && line.contains("://") {
                problems.push(format!("{at}: ADD of a URL (download in a RUN, checked)"));
            }
            if line.contains("cargo build") && !line.contains("--locked") {
                problems.push(format!("{at}: cargo build without --locked"));
            }
            if let Some(rest) = line.strip_prefix("COPY ")
                && !rest.starts_with("--from")
            {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                for source in &parts[..parts.len().saturating_sub(1)] {
                    if *source != "." && !root.join(source).exists() {
                        problems.push(format!("{at}: COPY source `{source}` does not exist"));
                    }
                }
            }
        }
    }
    ensure!(problems.is_empty(), "Dockerfiles:\n{}", problems.join("\n"));
    println!("Dockerfiles: ok");
    Ok(())
}
