//! Inspection text of compiled functions: the optimised CLIF and the
//! machine code as assembly (Intel syntax, by the pure-Rust `iced-x86`
//! decoder; a hex dump on other architectures).

use std::fmt::Write;

use cranelift_codegen::ir::ExternalName;
use cranelift_codegen::{Context, FinalizedRelocTarget};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Module};

/// `(name, clif, asm)` of the function just defined in `ctx`.
pub(super) fn listing(
    module: &JITModule,
    ctx: &Context,
    name: &'static str,
) -> (&'static str, String, String) {
    let clif = ctx.func.display().to_string();
    let Some(code) = ctx.compiled_code() else {
        return (name, clif, String::from("; no machine code\n"));
    };
    // Call targets: the relocations name the host functions.
    let mut relocs: Vec<(u32, String)> = Vec::new();
    for r in code.buffer.relocs() {
        let target = match &r.target {
            FinalizedRelocTarget::ExternalName(ExternalName::User(u)) => {
                let user = &ctx.func.params.user_named_funcs()[*u];
                module
                    .declarations()
                    .get_function_decl(FuncId::from_u32(user.index))
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("function {}", user.index))
            }
            other => other.display(Some(&ctx.func.params)),
        };
        relocs.push((r.offset, target));
    }
    (name, clif, disassemble(code.code_buffer(), &relocs))
}

#[cfg(target_arch = "x86_64")]
fn disassemble(bytes: &[u8], relocs: &[(u32, String)]) -> String {
    use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};
    let mut decoder = Decoder::with_ip(64, bytes, 0, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    formatter.options_mut().set_first_operand_char_index(10);
    let mut text = String::new();
    let mut inst = Instruction::default();
    let mut line = String::new();
    while decoder.can_decode() {
        decoder.decode_out(&mut inst);
        line.clear();
        formatter.format(&inst, &mut line);
        let start = inst.ip() as u32;
        let end = start + inst.len() as u32;
        let _ = write!(text, "{start:6x}:  {line}");
        for (off, target) in relocs {
            if (start..end).contains(off) {
                let _ = write!(text, "    ; {target}");
            }
        }
        text.push('\n');
    }
    text
}

#[cfg(not(target_arch = "x86_64"))]
fn disassemble(bytes: &[u8], relocs: &[(u32, String)]) -> String {
    let mut text = String::from("; machine code (no disassembler for this architecture)\n");
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(text, "{:6x}: ", i * 16);
        for b in chunk {
            let _ = write!(text, " {b:02x}");
        }
        text.push('\n');
    }
    for (off, target) in relocs {
        let _ = writeln!(text, "; relocation at {off:x}: {target}");
    }
    text
}
