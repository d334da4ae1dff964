//! The Proxmox simulator of the vm plugin's tests (tests/support/proxmox.rs) as a
//! process, for the host's tests, which run the real server against it: it prints one
//! JSON line (`url`, `node`, `token_id`, `token_secret`) and serves until its stdin
//! closes. Templates: 9000 `debian-tpl` (its guest agent answers) and 9001
//! `never-boots` (it never does).

#[path = "../tests/support/proxmox.rs"]
mod proxmox;

use std::io::Read;

fn main() {
    let sim = proxmox::ProxmoxSim::start(proxmox::SimOptions::default());
    sim.add_template(9000, "debian-tpl", true);
    sim.add_template(9001, "never-boots", false);
    let ready = serde_json::json!({ "url": sim.url, "node": sim.node, "token_id": sim.token_id, "token_secret": sim.token_secret });
    println!("{ready}");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
