//! Check-and-write scripts with their field names written in.
//!
//! The generic guarded set script (`GUARDED_SET_SCRIPT`) takes the field
//! names as arguments and builds each `HSET`'s argument table in Lua, asks
//! `EXISTS` once per port and answers with an array. Redis spends most of a
//! storm's CPU in that Lua (`INFO commandstats` of a 512-port storm: 77 µs
//! per call, 22 µs of it in the commands the script ran). A port's STATE_DB
//! write always carries the same four field names, so this module writes a
//! script for each list of names it meets (a few at most): the names are
//! string constants of the script, presence is one multi-key `EXISTS`
//! (each key asked alone only when one is missing), and the answer is `1`
//! when every port was written. Measured alone (14 ports a call): 28 µs
//! against the generic script's 39.5 and 19.5 for the same `HSET`s unchecked
//! (benches/README.md, "The guarded set script, leaner").
//!
//! What it does not decide: which writes are checked or how the answer is
//! read (`connections.rs`); the generic script stays for a list of names
//! beyond [`MAX_NAMED`].

/// Lists of field names that get a script of their own; writes with other
/// lists use the generic script.
pub(crate) const MAX_NAMED: usize = 8;

/// A script per list of field names, made when first needed.
#[derive(Default)]
pub(crate) struct NamedScripts {
    scripts: Vec<NamedScript>,
}

struct NamedScript {
    names: Vec<Vec<u8>>,
    text: String,
    sha: String,
}

impl NamedScripts {
    /// The script for `names`, made now if there is room (then its text
    /// comes too: the caller loads it before its first call); `None`: the
    /// generic script is used instead.
    pub(crate) fn script_for<'n>(
        &mut self,
        names: impl Iterator<Item = &'n [u8]> + Clone,
    ) -> Option<(&str, Option<&str>)> {
        let found = self.scripts.iter().position(|s| s.names.iter().map(Vec::as_slice).eq(names.clone()));
        let (at, new) = match found {
            Some(at) => (at, false),
            None if self.scripts.len() < MAX_NAMED => {
                let names: Vec<Vec<u8>> = names.map(<[u8]>::to_vec).collect();
                let text = script_text(&names);
                let sha = redis::Script::new(&text).get_hash().to_owned();
                self.scripts.push(NamedScript { names, text, sha });
                (self.scripts.len() - 1, true)
            }
            None => return None,
        };
        let script = &self.scripts[at];
        Some((&script.sha, new.then_some(script.text.as_str())))
    }

    /// Every script made so far (loaded with the others on connect, and
    /// again when a server answers `NOSCRIPT`).
    pub(crate) fn texts(&self) -> impl Iterator<Item = &str> {
        self.scripts.iter().map(|s| s.text.as_str())
    }

    /// How many there are.
    pub(crate) fn len(&self) -> usize {
        self.scripts.len()
    }
}

/// The script for `names`. KEYS: the `n` hashes to set, then their `n`
/// guards. ARGV: the guards' database, the hashes' database, then the
/// values, `names.len()` per hash in order. Answers `1` when every guard
/// was there (every hash written), else per hash `1` (written) or `0` (its
/// guard was missing: nothing written).
fn script_text(names: &[Vec<u8>]) -> String {
    let mut set = String::from("redis.call('HSET', KEYS[i]");
    for (k, name) in names.iter().enumerate() {
        set.push_str(&format!(", {}, ARGV[at + {k}]", lua_string(name)));
    }
    set.push(')');
    // No names: a check alone (HSET needs a field).
    let write = if names.is_empty() { String::new() } else { format!("            {set}\n") };
    format!(
        "redis.call('SELECT', ARGV[1])\n\
         local n = #KEYS / 2\n\
         local all = n == 0 or redis.call('EXISTS', unpack(KEYS, n + 1)) == n\n\
         local each = {{}}\n\
         if not all then\n\
         \x20   for i = 1, n do\n\
         \x20       each[i] = redis.call('EXISTS', KEYS[n + i])\n\
         \x20   end\n\
         end\n\
         redis.call('SELECT', ARGV[2])\n\
         for i = 1, n do\n\
         \x20   if all or each[i] == 1 then\n\
         \x20       local at = 3 + (i - 1) * {m}\n\
         {write}\
         \x20   end\n\
         end\n\
         if all then\n\
         \x20   return 1\n\
         end\n\
         return each\n",
        m = names.len(),
    )
}

/// `bytes` as a Lua string literal: letters, digits and `_` as they are,
/// every other byte as a decimal escape (any bytes are safe, none can end
/// the literal).
fn lua_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\{b:03}"));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_literals_whatever_their_bytes() {
        assert_eq!(lua_string(b"netdev_oper_status"), "\"netdev_oper_status\"");
        assert_eq!(lua_string(b"a\"b\\c\n\xff"), "\"a\\034b\\092c\\010\\255\"");
    }

    #[test]
    fn one_script_per_list_of_names_up_to_the_bound() {
        let mut scripts = NamedScripts::default();
        let state: [&[u8]; 2] = [b"state", b"mtu"];
        let (sha, new) = scripts.script_for(state.iter().copied()).unwrap();
        let first = sha.to_owned();
        assert!(new.is_some(), "its text, to load first");
        let (sha, new) = scripts.script_for(state.iter().copied()).unwrap();
        assert_eq!((sha, new), (first.as_str(), None), "made once");
        assert_eq!(scripts.len(), 1);
        for i in 1..MAX_NAMED {
            let name = format!("f{i}");
            assert!(scripts.script_for([name.as_bytes()].into_iter()).is_some());
        }
        assert!(scripts.script_for([&b"one too many"[..]].into_iter()).is_none(), "the generic script then");
        assert_eq!(scripts.texts().count(), MAX_NAMED);
        assert!(
            scripts
                .texts()
                .next()
                .unwrap()
                .contains("redis.call('HSET', KEYS[i], \"state\", ARGV[at + 0], \"mtu\", ARGV[at + 1])")
        );
    }
}
