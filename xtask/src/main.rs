//! `cargo xtask deployments [--check]`: a deployment is one file,
//! `deployments/<name>.rs`. Its package manifest,
//! `deployments/<name>/Cargo.toml`, is written from it: the package and
//! binary `deploy-<name>`, the DSL and the runtime, and every service crate
//! the file `use`s, with its server when the crate has one. `--check` writes
//! nothing and fails if a manifest is missing, stale or left over.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::{fs, io};

/// The first line of every generated manifest: how to tell one from a
/// manifest written by hand, which is never overwritten or removed.
const MARK: &str = "# Written by `cargo xtask deployments` from";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["deployments"] => false,
        ["deployments", "--check"] => true,
        _ => {
            eprintln!("usage: cargo xtask deployments [--check]");
            return ExitCode::from(2);
        }
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_owned();
    match deployments(&root, check) {
        Ok(problems) if problems.is_empty() => ExitCode::SUCCESS,
        Ok(problems) => {
            for problem in problems {
                eprintln!("{problem}");
            }
            eprintln!("run `cargo xtask deployments` to write them");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Brings every manifest in step with its deployment file (or, with
/// `check`, lists what is out of step).
pub fn deployments(root: &Path, check: bool) -> io::Result<Vec<String>> {
    let services = service_crates(root)?;
    let dir = root.join("deployments");
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for file in sorted(&dir)? {
        let Some(name) = file
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".rs"))
        else {
            continue;
        };
        names.insert(name.to_owned());
        let text = with_path_modules(&dir, fs::read_to_string(&file)?)?;
        let wanted = manifest(name, &used_crates(&text, &services));
        let path = dir.join(name).join("Cargo.toml");
        let current = fs::read_to_string(&path).ok();
        if current.as_deref() == Some(wanted.as_str()) {
            continue;
        }
        if current.as_deref().is_some_and(|c| !c.starts_with(MARK)) {
            problems.push(format!(
                "{}: written by hand; move it aside to have it generated",
                shown(root, &path)
            ));
            continue;
        }
        if check {
            problems.push(format!("{}: missing or stale", shown(root, &path)));
        } else {
            fs::create_dir_all(path.parent().expect("a manifest has a directory"))?;
            fs::write(&path, wanted)?;
            eprintln!("wrote {}", shown(root, &path));
        }
    }
    // A generated manifest whose file is gone.
    for sub in sorted(&dir)? {
        let manifest = sub.join("Cargo.toml");
        let name = sub.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !sub.is_dir() || names.contains(name) {
            continue;
        }
        match fs::read_to_string(&manifest) {
            Ok(text) if text.starts_with(MARK) && check => {
                problems.push(format!(
                    "{}: its deployment file is gone",
                    shown(root, &manifest)
                ));
            }
            Ok(text) if text.starts_with(MARK) => {
                fs::remove_file(&manifest)?;
                let _ = fs::remove_dir(&sub);
                eprintln!("removed {}", shown(root, &manifest));
            }
            _ => {}
        }
    }
    Ok(problems)
}

/// `path` as written under the workspace root, for messages.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The entries of `dir`, in name order.
fn sorted(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut entries = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

/// A service crate of the workspace: its name, and whether it has a
/// `server` feature (photonauth has no server yet).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceCrate {
    name: String,
    server: bool,
}

/// Every `services/*` package.
fn service_crates(root: &Path) -> io::Result<Vec<ServiceCrate>> {
    let mut crates = Vec::new();
    for dir in sorted(&root.join("services"))? {
        let Ok(text) = fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|rest| rest.strip_suffix('"'));
        if let Some(name) = name {
            crates.push(ServiceCrate {
                name: name.to_owned(),
                server: text.lines().any(|l| l.starts_with("server = [")),
            });
        }
    }
    Ok(crates)
}

/// `text` followed by the files of the modules it includes by path
/// (`#[path = "level3/platform.rs"] mod platform;`, relative to `dir`), so
/// the crates a shared module uses are its deployments' dependencies too.
fn with_path_modules(dir: &Path, text: String) -> io::Result<String> {
    let mut all = text.clone();
    for line in text.lines() {
        let Some(path) = line
            .trim_start()
            .strip_prefix("#[path = \"")
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        all.push('\n');
        all.push_str(&fs::read_to_string(dir.join(path))?);
    }
    Ok(all)
}

/// The service crates `text` names in a `use` (`use chainfire::Chainfire;`,
/// `use flashdns::{...}`; `use resource_manager::...` for the package
/// `resource-manager`), in name order.
fn used_crates<'a>(text: &str, services: &'a [ServiceCrate]) -> Vec<&'a ServiceCrate> {
    let used: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("use "))
        .filter_map(|rest| rest.split("::").next())
        .map(str::trim)
        .collect();
    services
        .iter()
        .filter(|s| used.contains(s.name.replace('-', "_").as_str()))
        .collect()
}

/// The manifest of deployment `name`.
fn manifest(name: &str, services: &[&ServiceCrate]) -> String {
    let mut text = format!(
        "{MARK} ../{name}.rs; do not edit.\n\
         [package]\n\
         name = \"deploy-{name}\"\n\
         version.workspace = true\n\
         edition.workspace = true\n\
         publish = false\n\
         \n\
         [[bin]]\n\
         name = \"deploy-{name}\"\n\
         path = \"../{name}.rs\"\n\
         \n\
         [dependencies]\n\
         photon-dsl.workspace = true\n\
         photon-runtime.workspace = true\n"
    );
    for service in services {
        if service.server {
            text.push_str(&format!(
                "{} = {{ workspace = true, features = [\"server\"] }}\n",
                service.name
            ));
        } else {
            text.push_str(&format!("{}.workspace = true\n", service.name));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_deployment_manifest_is_generated_from_its_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let problems = deployments(root, true).unwrap();
        assert!(
            problems.is_empty(),
            "{}\nrun `cargo xtask deployments`",
            problems.join("\n")
        );
    }

    #[test]
    fn a_manifest_lists_the_service_crates_the_file_uses() {
        let services = [
            ServiceCrate {
                name: "chainfire".to_owned(),
                server: true,
            },
            ServiceCrate {
                name: "echo".to_owned(),
                server: true,
            },
            ServiceCrate {
                name: "photonauth".to_owned(),
                server: false,
            },
        ];
        let text = "use photonauth::PhotonAuth;\nuse chainfire::Chainfire;\nuse photon_dsl::prelude::*;\n// use echo::EchoServer;\n";
        let used = used_crates(text, &services);
        assert_eq!(
            used.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["chainfire", "photonauth"]
        );
        let written = manifest("prod", &used);
        assert!(written.starts_with(MARK), "{written}");
        assert!(written.contains("name = \"deploy-prod\"\n"), "{written}");
        assert!(written.contains("path = \"../prod.rs\"\n"), "{written}");
        assert!(
            written.ends_with(
                "photon-runtime.workspace = true\nchainfire = { workspace = true, features = [\"server\"] }\nphotonauth.workspace = true\n"
            ),
            "{written}"
        );
    }

    #[test]
    fn a_module_included_by_path_adds_the_crates_it_uses() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("shared")).unwrap();
        fs::write(
            dir.path().join("shared/platform.rs"),
            "use flashdns::Zone;\n",
        )
        .unwrap();
        let text = "#[path = \"shared/platform.rs\"]\nmod platform;\nuse chainfire::Chainfire;\n";
        let all = with_path_modules(dir.path(), text.to_owned()).unwrap();
        let services = [
            ServiceCrate {
                name: "chainfire".to_owned(),
                server: true,
            },
            ServiceCrate {
                name: "flashdns".to_owned(),
                server: true,
            },
        ];
        let used = used_crates(&all, &services);
        assert_eq!(used.len(), 2, "{all}");
        assert!(with_path_modules(dir.path(), "#[path = \"gone.rs\"]\n".to_owned()).is_err());
    }
}
