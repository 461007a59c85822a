//! `[instance]`: its three keys checked together into this instance's
//! [`Partition`]. What a partition means (who owns which port, who leads)
//! is the core's ([`portsyncd_core::partition`]).

use portsyncd_core::partition::{KeySet, MAX_INSTANCES, MAX_LISTED_KEY, Partition, Share};

/// `[instance]` as given.
#[derive(Default)]
pub(crate) struct RawInstance {
    /// `id`.
    pub id: Option<i64>,
    /// `count`.
    pub count: Option<i64>,
    /// `partition`.
    pub partition: Option<toml::Value>,
}

impl RawInstance {
    /// The partition; absent, the only instance.
    pub(super) fn build(self) -> Result<Partition, String> {
        let (id, count) = match (self.id, self.count) {
            (None, None) if self.partition.is_none() => return Ok(Partition::single()),
            (Some(id), Some(count)) => (id, count),
            _ => return Err("instance: id and count go together (and with partition)".into()),
        };
        let count = u8::try_from(count)
            .ok()
            .filter(|c| (1..=MAX_INSTANCES).contains(c))
            .ok_or_else(|| format!("instance.count = {count} is out of range 1..={MAX_INSTANCES}"))?;
        let id = u8::try_from(id)
            .ok()
            .filter(|i| *i < count)
            .ok_or_else(|| format!("instance.id = {id} must be 0..{count} (below instance.count)"))?;
        let key = |v: &toml::Value| {
            v.as_integer()
                .and_then(|k| u32::try_from(k).ok())
                .filter(|k| *k <= MAX_LISTED_KEY)
                .ok_or_else(|| format!("instance.partition: a key must be an integer 0..={MAX_LISTED_KEY}"))
        };
        let share = match &self.partition {
            None if count == 1 => Share::All,
            None => return Err("instance.partition is needed with more than one instance".into()),
            Some(toml::Value::String(s)) if s == "even" => Share::Even,
            Some(toml::Value::Table(t)) if t.len() == 1 && t.contains_key("range") => {
                let bounds = t["range"]
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or_else(|| "instance.partition.range: expected [first, last]".to_string())?;
                let (first, last) = (key(&bounds[0])?, key(&bounds[1])?);
                if first > last {
                    return Err(format!("instance.partition.range = [{first}, {last}]: first after last"));
                }
                Share::Range { first, last }
            }
            Some(toml::Value::Table(t)) if t.len() == 1 && t.contains_key("list") => {
                let items = t["list"]
                    .as_array()
                    .ok_or_else(|| "instance.partition.list: expected [keys]".to_string())?;
                let mut keys = KeySet::new();
                for item in items {
                    keys.insert(key(item)?);
                }
                Share::List(keys)
            }
            Some(other) => {
                return Err(format!(
                    "instance.partition = {other:?}: expected \"even\", {{ range = [first, last] }} or {{ list = [keys] }}"
                ));
            }
        };
        Partition::new(id, count, share).map_err(|e| format!("instance: {e}"))
    }
}
