//! Inspection text of compiled functions: the optimised CLIF and the
//! machine code as assembly (Intel syntax, by the pure-Rust `iced-x86`
//! decoder; a hex dump on other architectures).

use std::fmt::Write;

use cranelift_codegen::ir::ExternalName;
use cranelift_codegen::{Context, FinalizedRelocTarget};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Module};

/// What `--stage clif` and `--stage asm` print, for one function.
#[derive(Clone, Debug)]
pub(super) struct Listing {
    pub(super) name: String,
    pub(super) clif: String,
    pub(super) asm: String,
}

/// The listing of the function `name` just defined in `ctx`.
pub(super) fn listing(module: &JITModule, ctx: &Context, name: String) -> Listing {
    let clif = ctx.func.display().to_string();
    let Some(code) = ctx.compiled_code() else {
        let asm = String::from("; no machine code\n");
        return Listing { name, clif, asm };
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
    let asm = disassemble(code.code_buffer(), &relocs);
    Listing { name, clif, asm }
}

#[cfg(target_arch = "x86_64")]
fn disassemble(bytes: &[u8], relocs: &[(u32, String)]) -> String {
    use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};
    // Constants follow the code; the first address loaded RIP-relative
    // marks where the data starts.
    let mut data_start = bytes.len() as u64;
    let mut decoder = Decoder::with_ip(64, bytes, 0, DecoderOptions::NONE);
    let mut inst = Instruction::default();
    while decoder.can_decode() && decoder.ip() < data_start {
        decoder.decode_out(&mut inst);
        if inst.is_ip_rel_memory_operand() && inst.ip_rel_memory_address() > inst.ip() {
            data_start = data_start.min(inst.ip_rel_memory_address());
        }
    }
    let mut formatter = IntelFormatter::new();
    let options = formatter.options_mut();
    options.set_first_operand_char_index(10);
    options.set_uppercase_hex(false);
    options.set_hex_prefix("0x");
    options.set_hex_suffix("");
    options.set_branch_leading_zeros(false);
    options.set_space_after_operand_separator(true);
    let mut text = String::new();
    let mut line = String::new();
    let code = &bytes[..data_start as usize];
    let mut decoder = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    while decoder.can_decode() {
        if code[decoder.position()..].iter().all(|&b| b == 0) {
            break; // alignment padding before the constants
        }
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
    if (data_start as usize) < bytes.len() {
        text.push_str("; constants\n");
        hex_rows(
            &mut text,
            &bytes[data_start as usize..],
            data_start as usize,
        );
    }
    text
}

/// Bytes as hex, 16 per row, with their offsets.
fn hex_rows(text: &mut String, bytes: &[u8], base: usize) {
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(text, "{:6x}: ", base + i * 16);
        for b in chunk {
            let _ = write!(text, " {b:02x}");
        }
        text.push('\n');
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn disassemble(bytes: &[u8], relocs: &[(u32, String)]) -> String {
    let mut text = String::from("; machine code (no disassembler for this architecture)\n");
    hex_rows(&mut text, bytes, 0);
    for (off, target) in relocs {
        let _ = writeln!(text, "; relocation at {off:x}: {target}");
    }
    text
}
