//! The fixed names of the original system (seed 000, `src.app.daas.common.enums`).
//!
//! These enums cross the dylib boundary as `#[repr(u8)]` values; their string forms are
//! exactly the seed's, including `BackendName::Vm` spelled `"VM"`.

use abi_stable::StableAbi;
use serde::{Deserialize, Serialize};

macro_rules! fixed_names {
    ($(#[$meta:meta])* $ty:ident { $($(#[$vmeta:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[repr(u8)]
        #[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        pub enum $ty {
            $($(#[$vmeta])* #[doc = concat!("`", $s, "`")] #[serde(rename = $s)] $variant),+
        }

        impl $ty {
            /// Every variant, in the seed's order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The seed's string value.
            pub const fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $s),+ }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($s => Ok($ty::$variant),)+
                    _ => Err(UnknownName {
                        kind: stringify!($ty),
                        given: s.to_string(),
                        allowed: $ty::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                    }),
                }
            }
        }
    };
}

/// A string that is not one of the fixed names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a {kind}; allowed: {allowed}")]
pub struct UnknownName {
    /// `PluginName`, `BackendName` or `LayerName`.
    pub kind: &'static str,
    /// What was given.
    pub given: String,
    /// The allowed values, comma separated.
    pub allowed: String,
}

fixed_names! {
    /// The name of a plugin. A library declaring any other name cannot exist: the host
    /// refuses a configured plugin name that is not one of these.
    PluginName {
        Db = "db",
        Proxy = "proxy",
        Extensions = "extensions",
        Messaging = "messaging",
        Info = "info",
        Admin = "admin",
        Auth = "auth",
        Node = "node",
        File = "file",
        Ceph = "ceph",
        Container = "container",
        Vm = "vm",
        Phases = "phases",
        Instances = "instances",
        /// The worked example plugin (`plugins/testbackend`).
        Testing = "testbackend",
    }
}

fixed_names! {
    /// The name of a backend: a service one plugin offers to the others through the host.
    BackendName {
        Extensions = "extensions",
        Db = "db",
        Task = "task",
        Proxy = "proxy",
        Messaging = "messaging",
        Info = "info",
        Admin = "admin",
        Auth = "auth",
        Node = "node",
        Limits = "limits",
        File = "file",
        Ceph = "ceph",
        /// Spelled `"VM"` as in the original.
        Vm = "VM",
        Phases = "phases",
        Instances = "instances",
        Container = "container",
        Testing = "testbackend",
    }
}

fixed_names! {
    /// The name of a layer: middleware a plugin runs around every plugin route.
    LayerName {
        /// The auth plugin's layer: authenticates every request and refuses the
        /// unauthenticated ones on non-public routes. Not in the seed's enum (the original
        /// authenticated inside each route); DESIGN.md puts it first in the chain.
        Auth = "auth",
        Db = "db",
        Limit = "limits",
        Task = "task",
        Testing = "testing",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_their_seed_strings() {
        for n in PluginName::ALL {
            assert_eq!(n.as_str().parse::<PluginName>().unwrap(), *n);
            assert_eq!(serde_json::to_string(n).unwrap(), format!("\"{}\"", n.as_str()));
        }
        assert_eq!(BackendName::Vm.as_str(), "VM");
        assert_eq!(PluginName::Testing.as_str(), "testbackend");
        assert_eq!(LayerName::Testing.as_str(), "testing");
        assert_eq!(PluginName::ALL.len(), 15);
        assert_eq!(BackendName::ALL.len(), 17);
        assert_eq!(LayerName::ALL.len(), 5);
    }

    #[test]
    fn unknown_name_lists_the_allowed_ones() {
        let e = "dbx".parse::<PluginName>().unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("`dbx` is not a PluginName"), "{msg}");
        assert!(msg.contains("testbackend"), "{msg}");
    }
}
