//! The IOMMU topology as Linux sees it, read from sysfs:
//! - `/sys/class/iommu/<name>/devices/*`: the IOMMUs and the devices each translates;
//! - `/sys/kernel/iommu_groups/<id>/{type,devices/*}`: the groups, their default
//!   domain type (`DMA` = strict, `DMA-FQ` = lazy, `identity` = passthrough);
//! - `/sys/bus/virtio/devices/<name>/`: each virtio device's device ID, driver,
//!   transport (parent) device, the parent's IOMMU group, and whether
//!   VIRTIO_F_ACCESS_PLATFORM (bit 33) was negotiated, i.e. whether its DMA goes
//!   through the DMA API (and so through the IOMMU).

use std::fs;
use std::path::Path;

use crate::report::Report;

/// VIRTIO_F_ACCESS_PLATFORM: the device's addresses are translated by the platform.
const VIRTIO_F_ACCESS_PLATFORM: usize = 33;

/// Appends the topology lines to `report`.
pub fn report(report: &mut Report) {
    let iommus = entry_names(Path::new("/sys/class/iommu"));
    for iommu in &iommus {
        let devices = entry_names(&Path::new("/sys/class/iommu").join(iommu).join("devices"));
        report.line(format_args!(
            "iommu name={iommu} devices={}",
            list(&devices)
        ));
    }

    let groups = entry_names(Path::new("/sys/kernel/iommu_groups"));
    for group in &groups {
        let dir = Path::new("/sys/kernel/iommu_groups").join(group);
        let kind = read_trimmed(&dir.join("type"));
        let devices = entry_names(&dir.join("devices"));
        report.line(format_args!(
            "iommu-group id={group} type={} devices={}",
            kind.as_deref().unwrap_or("unknown"),
            list(&devices)
        ));
    }

    let virtio = entry_names(Path::new("/sys/bus/virtio/devices"));
    for name in &virtio {
        let dir = Path::new("/sys/bus/virtio/devices").join(name);
        let device_id = read_trimmed(&dir.join("device"))
            .and_then(|id| u32::from_str_radix(id.trim_start_matches("0x"), 16).ok());
        let driver = link_name(&dir.join("driver"));
        // /sys/bus/virtio/devices/virtioN -> ../../../devices/.../<parent>/virtioN
        let parent = fs::canonicalize(&dir)
            .ok()
            .and_then(|path| path.parent().map(|p| p.to_path_buf()));
        let parent_name = parent
            .as_deref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        let group = parent
            .as_deref()
            .and_then(|p| link_name(&p.join("iommu_group")));
        let access_platform = read_trimmed(&dir.join("features"))
            .map(|bits| bits.as_bytes().get(VIRTIO_F_ACCESS_PLATFORM) == Some(&b'1'));
        report.line(format_args!(
            "virtio name={name} device-id={} driver={} parent={} iommu-group={} access-platform={}",
            device_id.map_or("unknown".to_string(), |id| id.to_string()),
            driver.as_deref().unwrap_or("none"),
            parent_name.as_deref().unwrap_or("unknown"),
            group.as_deref().unwrap_or("none"),
            match access_platform {
                Some(true) => "1",
                Some(false) => "0",
                None => "unknown",
            }
        ));
    }

    let block = entry_names(Path::new("/sys/block"));
    for name in &block {
        let sectors = read_trimmed(&Path::new("/sys/block").join(name).join("size"));
        report.line(format_args!(
            "block name={name} sectors={}",
            sectors.as_deref().unwrap_or("unknown")
        ));
    }

    report.line(format_args!(
        "topology iommus={} iommu-groups={} virtio-devices={} block-devices={}",
        iommus.len(),
        groups.len(),
        virtio.len(),
        block.len()
    ));
}

/// Sorted names in a directory (numerically when they are numbers); empty if
/// it does not exist.
fn entry_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort_by(|a, b| match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => a.cmp(b),
    });
    names
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_string())
}

/// The last component of a symlink's target (`driver`, `iommu_group`).
fn link_name(path: &Path) -> Option<String> {
    fs::read_link(path)
        .ok()
        .and_then(|target| target.file_name().map(|n| n.to_string_lossy().into_owned()))
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_joins_or_says_none() {
        assert_eq!(list(&[]), "none");
        assert_eq!(list(&["a".into(), "b".into()]), "a,b");
    }

    #[test]
    fn entry_names_sort_numbers_numerically() {
        let dir = std::env::temp_dir().join(format!("guest-init-topo-{}", std::process::id()));
        for name in ["10", "2", "1"] {
            fs::create_dir_all(dir.join(name)).unwrap();
        }
        assert_eq!(entry_names(&dir), vec!["1", "2", "10"]);
        assert!(entry_names(&dir.join("missing")).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
