//! Generates the parser from grammar/ddx.lalrpop.
fn main() {
    lalrpop::Configuration::new()
        .emit_rerun_directives(true)
        .set_in_dir("grammar")
        .process()
        .expect("lalrpop failed to generate the parser");
}
