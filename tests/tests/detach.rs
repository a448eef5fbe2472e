//! Nothing is left behind: after a run, none of the BPF programs and maps that ctrace held is
//! still in the kernel. Only ctrace's own objects are followed (by id, from its fds), so other
//! tracers on the node, other tests included, can load and unload what they like meanwhile.

use tests::{
    Tracer,
    bpf::{BPF_MAP_GET_NEXT_ID, BPF_PROG_GET_NEXT_ID, assert_ids_gone, held_ids},
    root,
};

#[test]
fn probes_are_detached_after_the_run() {
    if !root() {
        return;
    }
    let tracer = Tracer::start(&["trace", "seccomp", "--json"]);
    let progs = held_ids(tracer.pid(), "prog_id");
    let maps = held_ids(tracer.pid(), "map_id");
    assert!(
        !progs.is_empty(),
        "ctrace holds no BPF program while attached"
    );
    assert!(!maps.is_empty(), "ctrace holds no BPF map while attached");
    assert!(progs.is_subset(&tests::bpf::loaded_ids(BPF_PROG_GET_NEXT_ID)));
    tracer.stop_json();
    assert_ids_gone(&progs, BPF_PROG_GET_NEXT_ID);
    assert_ids_gone(&maps, BPF_MAP_GET_NEXT_ID);
}
