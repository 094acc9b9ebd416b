//! Selection and planning, pure functions: apply the policy's include/exclude rules, follow
//! dependencies, and cut the selected assets into batches of at most `assetsPerBundle`, keeping
//! assets that share dependencies together so each dependency is exported as few times as possible.

use std::collections::{BTreeMap, HashMap, HashSet};

use globset::{Glob, GlobMatcher};
use qsbackup_policy::{AssetType, Policy, Rule};
use serde::{Deserialize, Serialize};

use crate::inventory::{Asset, Inventory, Skipped};

/// The plan format; bump when the shape changes.
pub const PLAN_FORMAT: u32 = 1;

/// What a run will export, stored as `plan.json` next to the run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub format: u32,
    pub run_id: String,
    pub policy_digest: String,
    pub batches: Vec<Batch>,
    /// Assets in scope that cannot be exported, with the reason.
    pub skipped: Vec<Skipped>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    pub index: u32,
    pub assets: Vec<Asset>,
}

impl Plan {
    pub fn asset_count(&self) -> usize {
        self.batches.iter().map(|b| b.assets.len()).sum()
    }
}

struct CompiledRule {
    ids: HashSet<String>,
    names: Vec<GlobMatcher>,
    tags: BTreeMap<String, String>,
    folders: Vec<String>,
}

impl CompiledRule {
    fn new(r: &Rule) -> CompiledRule {
        CompiledRule {
            ids: r.ids.iter().cloned().collect(),
            // The policy validator has already rejected globs that do not compile.
            names: r
                .names
                .iter()
                .filter_map(|g| {
                    globset::GlobBuilder::new(g)
                        .case_insensitive(true)
                        .build()
                        .ok()
                        .map(|g: Glob| g.compile_matcher())
                })
                .collect(),
            tags: r.tags.clone(),
            folders: r.folders.clone(),
        }
    }

    fn matches(&self, a: &Asset) -> bool {
        (self.ids.is_empty() || self.ids.contains(&a.id))
            && (self.names.is_empty() || self.names.iter().any(|g| g.is_match(&a.name)))
            && self
                .tags
                .iter()
                .all(|(k, v)| a.tags.get(k).is_some_and(|x| v == "*" || x == v))
            && (self.folders.is_empty()
                || self
                    .folders
                    .iter()
                    .any(|f| a.folders.iter().any(|p| p == f || folder_id_match(p, f))))
    }
}

/// Folder criteria may name a folder id; membership paths carry names, so ids match the
/// last path segment too (a folder id is usually not a display name, so collisions are rare).
fn folder_id_match(path: &str, wanted: &str) -> bool {
    path.rsplit('/').next() == Some(wanted)
}

/// Applies the selection; returns the selected assets and the skipped ones that are in scope.
pub fn select(policy: &Policy, inv: &Inventory) -> (Vec<Asset>, Vec<Skipped>) {
    let sel = &policy.selection;
    let types: HashSet<AssetType> = sel.asset_types.iter().copied().collect();
    let include: Vec<CompiledRule> = sel.include.iter().map(CompiledRule::new).collect();
    let exclude: Vec<CompiledRule> = sel.exclude.iter().map(CompiledRule::new).collect();
    let wanted = |a: &Asset| {
        types.contains(&a.kind)
            && (include.is_empty() || include.iter().any(|r| r.matches(a)))
            && !exclude.iter().any(|r| r.matches(a))
    };
    let by_arn: HashMap<&str, &Asset> = inv.assets.iter().map(|a| (a.arn.as_str(), a)).collect();
    let mut chosen: HashSet<&str> = inv
        .assets
        .iter()
        .filter(|a| wanted(a))
        .map(|a| a.arn.as_str())
        .collect();
    if sel.follow_dependencies {
        let mut stack: Vec<&str> = chosen.iter().copied().collect();
        while let Some(arn) = stack.pop() {
            for d in by_arn
                .get(arn)
                .map(|a| a.deps.as_slice())
                .unwrap_or_default()
            {
                if by_arn.contains_key(d.as_str()) && chosen.insert(d.as_str()) {
                    stack.push(d.as_str());
                }
            }
        }
    }
    let selected = inv
        .assets
        .iter()
        .filter(|a| chosen.contains(a.arn.as_str()))
        .cloned()
        .collect();
    let skipped = inv
        .skipped
        .iter()
        .filter(|(a, _)| wanted(a))
        .map(|(a, why)| Skipped::new(a, why))
        .collect();
    (selected, skipped)
}

/// Export order inside a batch: dependencies first, so bisection keeps related assets close.
fn rank(t: AssetType) -> u8 {
    match t {
        AssetType::VpcConnection => 0,
        AssetType::Datasource => 1,
        AssetType::Dataset => 2,
        AssetType::Theme => 3,
        AssetType::Analysis => 4,
        AssetType::Dashboard => 5,
        AssetType::Folder => 6,
    }
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Cuts `assets` into batches of at most `per_bundle`. Deterministic for the same input.
pub fn batches(assets: &[Asset], per_bundle: usize) -> Vec<Batch> {
    let per_bundle = per_bundle.clamp(1, 100);
    // Union-find over assets and everything they depend on (transitively through the map).
    let mut index: HashMap<&str, usize> = HashMap::new();
    for a in assets {
        let n = index.len();
        index.entry(a.arn.as_str()).or_insert(n);
        for d in &a.deps {
            let n = index.len();
            index.entry(d.as_str()).or_insert(n);
        }
    }
    let mut parent: Vec<usize> = (0..index.len()).collect();
    for a in assets {
        let x = index[a.arn.as_str()];
        for d in &a.deps {
            let (rx, ry) = (find(&mut parent, x), find(&mut parent, index[d.as_str()]));
            if rx != ry {
                parent[rx.max(ry)] = rx.min(ry);
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<&Asset>> = BTreeMap::new();
    for a in assets {
        let root = find(&mut parent, index[a.arn.as_str()]);
        groups.entry(root).or_default().push(a);
    }
    let mut groups: Vec<Vec<&Asset>> = groups.into_values().collect();
    for g in &mut groups {
        g.sort_by(|a, b| (rank(a.kind), &a.arn).cmp(&(rank(b.kind), &b.arn)));
    }
    // Largest groups first, ties by their first ARN: first-fit decreasing.
    groups.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a[0].arn.cmp(&b[0].arn)));
    let mut bins: Vec<Vec<&Asset>> = Vec::new();
    for g in groups {
        if g.len() >= per_bundle {
            for chunk in g.chunks(per_bundle) {
                bins.push(chunk.to_vec());
            }
            continue;
        }
        match bins.iter_mut().find(|b| b.len() + g.len() <= per_bundle) {
            Some(bin) => bin.extend(g),
            None => bins.push(g),
        }
    }
    bins.into_iter()
        .enumerate()
        .map(|(i, b)| Batch {
            index: i as u32,
            assets: b.into_iter().cloned().collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use crate::inventory::test_asset as a;

    #[test]
    fn assets_sharing_a_dependency_land_in_the_same_batch() {
        let assets = vec![
            a(AssetType::Dashboard, "d1", &["ds1"]),
            a(AssetType::Dashboard, "d2", &["ds2"]),
            a(AssetType::Dashboard, "d3", &["ds1"]),
            a(AssetType::Dashboard, "d4", &["ds2"]),
            a(AssetType::Dataset, "ds1", &["src"]),
            a(AssetType::Dataset, "ds2", &["other"]),
        ];
        let b = batches(&assets, 3);
        assert_eq!(b.len(), 2);
        for batch in &b {
            let ids: Vec<&str> = batch.assets.iter().map(|a| a.id.as_str()).collect();
            assert!(
                ids == ["ds1", "d1", "d3"] || ids == ["ds2", "d2", "d4"],
                "{ids:?}"
            );
        }
        assert_eq!(b, batches(&assets, 3), "planning is deterministic");
    }

    #[test]
    fn no_batch_exceeds_the_bundle_size_and_nothing_is_lost() {
        let assets: Vec<Asset> = (0..250)
            .map(|i| a(AssetType::Dashboard, &format!("d{i:03}"), &["shared"]))
            .collect();
        let b = batches(&assets, 100);
        assert_eq!(
            b.iter().map(|b| b.assets.len()).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        let small = batches(&assets[..7], 0);
        assert!(
            small.iter().all(|b| b.assets.len() == 1),
            "bundle size is clamped to at least 1"
        );
    }

    #[test]
    fn rules_include_exclude_and_follow_dependencies() {
        let mut policy = Policy::default();
        let mut inv = Inventory::default();
        let mut d1 = a(AssetType::Dashboard, "d1", &["ds1"]);
        d1.tags.insert("team".into(), "finance".into());
        let mut d2 = a(AssetType::Dashboard, "d2", &["ds2"]);
        d2.name = "Sales Draft".into();
        d2.tags.insert("team".into(), "finance".into());
        inv.assets = vec![
            d1,
            d2,
            a(AssetType::Dataset, "ds1", &[]),
            a(AssetType::Dataset, "ds2", &[]),
        ];
        policy.selection.include = vec![Rule {
            tags: [("team".into(), "*".into())].into(),
            ..Rule::default()
        }];
        policy.selection.exclude = vec![Rule {
            names: vec!["*draft*".into()],
            ..Rule::default()
        }];
        let (sel, _) = select(&policy, &inv);
        let ids: Vec<&str> = sel.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["d1", "ds1"]);
        policy.selection.follow_dependencies = false;
        let (sel, _) = select(&policy, &inv);
        assert_eq!(sel.len(), 1);
        // Skipped assets are reported when the rules select them, by tag too.
        let mut jira = a(AssetType::Dashboard, "jira", &[]);
        jira.tags.insert("team".into(), "support".into());
        inv.skipped = vec![
            (jira, "depends on unsupported dataset x".into()),
            (a(AssetType::Dashboard, "untagged", &[]), "y".into()),
        ];
        let (_, skipped) = select(&policy, &inv);
        let ids: Vec<&str> = skipped.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["jira"]);
    }
}
