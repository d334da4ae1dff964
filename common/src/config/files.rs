//! The config files of a site and which plugin reads each.

use super::sections::*;
use daas_plugin_api::PluginName;

/// One config file of a site (seed `ConfigFile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigFile {
    /// `extensions.toml`: the host: which plugins, layers, where to listen.
    Extensions,
    /// `container.toml`
    Container,
    /// `proxy.toml`
    Proxy,
    /// `vm.toml`
    Vm,
    /// `files.toml`
    File,
    /// `ceph.toml`
    Ceph,
    /// `db.toml`
    Db,
    /// `node.toml`
    Node,
    /// `auth.toml`
    Auth,
    /// `info.toml`
    Info,
    /// `limits.toml`
    Limits,
    /// `logging.toml`
    Log,
    /// `messaging.toml`
    Messaging,
}

impl ConfigFile {
    /// Every file, in the seed's order.
    pub const ALL: &'static [ConfigFile] = &[
        ConfigFile::Extensions,
        ConfigFile::Container,
        ConfigFile::Proxy,
        ConfigFile::Vm,
        ConfigFile::File,
        ConfigFile::Ceph,
        ConfigFile::Db,
        ConfigFile::Node,
        ConfigFile::Auth,
        ConfigFile::Info,
        ConfigFile::Limits,
        ConfigFile::Log,
        ConfigFile::Messaging,
    ];

    /// The file name (seed values).
    pub const fn file_name(self) -> &'static str {
        match self {
            ConfigFile::Extensions => "extensions.toml",
            ConfigFile::Container => "container.toml",
            ConfigFile::Proxy => "proxy.toml",
            ConfigFile::Vm => "vm.toml",
            ConfigFile::File => "files.toml",
            ConfigFile::Ceph => "ceph.toml",
            ConfigFile::Db => "db.toml",
            ConfigFile::Node => "node.toml",
            ConfigFile::Auth => "auth.toml",
            ConfigFile::Info => "info.toml",
            ConfigFile::Limits => "limits.toml",
            ConfigFile::Log => "logging.toml",
            ConfigFile::Messaging => "messaging.toml",
        }
    }

    /// The file name without `.toml`; the first part of an environment override name.
    pub fn stem(self) -> &'static str {
        self.file_name().trim_end_matches(".toml")
    }

    /// The file a name refers to.
    pub fn from_file_name(name: &str) -> Option<ConfigFile> {
        Self::ALL.iter().copied().find(|f| f.file_name() == name)
    }

    /// The plugin that receives this file as its configuration.
    pub const fn plugin(self) -> Option<PluginName> {
        match self {
            ConfigFile::Extensions => Some(PluginName::Extensions),
            ConfigFile::Container => Some(PluginName::Container),
            ConfigFile::Proxy => Some(PluginName::Proxy),
            ConfigFile::Vm => Some(PluginName::Vm),
            ConfigFile::File => Some(PluginName::File),
            ConfigFile::Ceph => Some(PluginName::Ceph),
            ConfigFile::Db => Some(PluginName::Db),
            ConfigFile::Node => Some(PluginName::Node),
            ConfigFile::Auth => Some(PluginName::Auth),
            ConfigFile::Info => Some(PluginName::Info),
            ConfigFile::Messaging => Some(PluginName::Messaging),
            // limits.toml belongs to the limits layer and logging.toml to the host.
            ConfigFile::Limits | ConfigFile::Log => None,
        }
    }

    /// The config file a plugin receives (none for admin, phases, instances and
    /// testbackend, which are configured through their `[[extensions.plugin]]` entry).
    pub fn of_plugin(plugin: PluginName) -> Option<ConfigFile> {
        Self::ALL.iter().copied().find(|f| f.plugin() == Some(plugin))
    }

    /// The JSON Schema of the file.
    pub fn json_schema(self) -> schemars::schema::RootSchema {
        macro_rules! s {
            ($t:ty) => {
                schemars::schema_for!($t)
            };
        }
        match self {
            ConfigFile::Extensions => s!(ExtensionsFile),
            ConfigFile::Container => s!(ContainerFile),
            ConfigFile::Proxy => s!(ProxyFile),
            ConfigFile::Vm => s!(VmFile),
            ConfigFile::File => s!(FilesFile),
            ConfigFile::Ceph => s!(CephFile),
            ConfigFile::Db => s!(DbFile),
            ConfigFile::Node => s!(NodeFile),
            ConfigFile::Auth => s!(AuthFile),
            ConfigFile::Info => s!(InfoFile),
            ConfigFile::Limits => s!(LimitsFile),
            ConfigFile::Log => s!(LoggingFile),
            ConfigFile::Messaging => s!(MessagingFile),
        }
    }

    /// Validate a parsed file against its type, returning its JSON form with defaults
    /// filled in. Problems carry key paths; [`super::load_file`] adds file and line.
    pub(crate) fn validate(self, value: toml::Value) -> Result<serde_json::Value, Vec<super::validate::RawProblem>> {
        use super::validate::validate_as as v;
        match self {
            ConfigFile::Extensions => v::<ExtensionsFile>(value),
            ConfigFile::Container => v::<ContainerFile>(value),
            ConfigFile::Proxy => v::<ProxyFile>(value),
            ConfigFile::Vm => v::<VmFile>(value),
            ConfigFile::File => v::<FilesFile>(value),
            ConfigFile::Ceph => v::<CephFile>(value),
            ConfigFile::Db => v::<DbFile>(value),
            ConfigFile::Node => v::<NodeFile>(value),
            ConfigFile::Auth => v::<AuthFile>(value),
            ConfigFile::Info => v::<InfoFile>(value),
            ConfigFile::Limits => v::<LimitsFile>(value),
            ConfigFile::Log => v::<LoggingFile>(value),
            ConfigFile::Messaging => v::<MessagingFile>(value),
        }
    }
}

impl std::fmt::Display for ConfigFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.file_name())
    }
}
