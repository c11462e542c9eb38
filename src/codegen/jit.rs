//! The one place where Cranelift modules are made, filled and finalized
//! (as cranelift-jit-demo's `JIT`): [`JitModule`] owns a module with the
//! contexts it reuses for each function; [`Code`] owns the finalized code
//! memory and frees it when dropped.

use std::sync::OnceLock;

use cranelift_codegen::ir::{types, AbiParam};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Linkage, Module, ModuleError};

use super::disasm::{self, Listing};
use super::emit::{Hosts, Translator};
use super::{host, CodegenError};
use crate::schedule::Schedule;

/// The native ISA with ddx's flags, built once per process; `fast` selects
/// the single-pass register allocator (see [`super::FAST_REGALLOC_OPS`]).
fn isa(fast: bool) -> Result<OwnedTargetIsa, CodegenError> {
    static ISA: OnceLock<Result<OwnedTargetIsa, String>> = OnceLock::new();
    static FAST: OnceLock<Result<OwnedTargetIsa, String>> = OnceLock::new();
    let cell = if fast { &FAST } else { &ISA };
    cell.get_or_init(|| {
        let mut flags = settings::builder();
        let set = |f: &mut settings::Builder, k: &str, v: &str| {
            f.set(k, v).map_err(|e| format!("setting {k}={v}: {e}"))
        };
        set(&mut flags, "opt_level", "speed")?;
        set(&mut flags, "is_pic", "false")?;
        set(&mut flags, "use_colocated_libcalls", "false")?;
        let verify = if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        };
        set(&mut flags, "enable_verifier", verify)?;
        if fast {
            set(&mut flags, "regalloc_algorithm", "single_pass")?;
        }
        let isa_builder = cranelift_native::builder().map_err(|e| e.to_string())?;
        isa_builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(CodegenError::Isa)
}

/// A Cranelift error: a bug in ddx, reported rather than panicking.
fn cranelift(e: ModuleError) -> CodegenError {
    CodegenError::Cranelift(format!("{e:?}"))
}

/// The native signatures of the functions ddx compiles.
#[derive(Clone, Copy, Debug)]
pub(super) enum Abi {
    /// Five pointer-sized arguments, no result: a kernel function
    /// (`super::KernelFn`) or one loop over a range of rows
    /// (`super::LoopFn`).
    Kernel,
    /// Six pointer-sized arguments, two `f64`, a pointer-sized result: the
    /// SGD loop (`super::SgdFn`).
    Sgd,
}

/// Code memory of finalized functions, freed when dropped.
pub(super) struct Code(Option<JITModule>);

impl Code {
    /// The address of the finalized function `id`, valid while `self`
    /// lives.
    pub(super) fn address(&self, id: FuncId) -> *const u8 {
        self.0
            .as_ref()
            .expect("module present until drop")
            .get_finalized_function(id)
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        if let Some(module) = self.0.take() {
            // SAFETY: the module's functions are only reachable through the
            // owner of this `Code` (a `Kernel`, its `LoopCode` or an
            // `SgdCode`, each declaring it last), or through nothing when a
            // `JitModule` is dropped unfinished; that owner is being
            // dropped, so no function pointer of the module is used or
            // running any more.
            unsafe { module.free_memory() };
        }
    }
}

/// A JIT module being filled with functions: the Cranelift module (in its
/// [`Code`], so that its memory is freed if compilation fails), the
/// contexts reused for each function, and the host functions declared so
/// far. The contexts are boxed: a `Context` is 7 KB, which every move of
/// the module would copy.
pub(super) struct JitModule {
    code: Code,
    ctx: Box<Context>,
    fctx: Box<FunctionBuilderContext>,
    hosts: Hosts,
    /// Keep the optimised CLIF and machine code of each function.
    inspect: bool,
    listings: Vec<Listing>,
}

impl JitModule {
    /// An empty module resolving ddx's host functions; `fast` selects the
    /// single-pass register allocator, `inspect` keeps a [`Listing`] of
    /// every function.
    pub(super) fn new(fast: bool, inspect: bool) -> Result<JitModule, CodegenError> {
        let mut jit = JITBuilder::with_isa(isa(fast)?, default_libcall_names());
        jit.symbol_lookup_fn(Box::new(host::lookup));
        let module = JITModule::new(jit);
        let ctx = Box::new(module.make_context());
        Ok(JitModule {
            code: Code(Some(module)),
            ctx,
            fctx: Box::new(FunctionBuilderContext::new()),
            hosts: Hosts::default(),
            inspect,
            listings: Vec::new(),
        })
    }

    /// Declares a local function `name` of signature `abi` and defines it:
    /// `translate` emits its body from `sched` (one of `Translator`'s
    /// `translate*` methods).
    pub(super) fn define(
        &mut self,
        name: &str,
        abi: Abi,
        sched: &Schedule,
        translate: impl FnOnce(Translator<'_, '_>) -> Result<(), Box<ModuleError>>,
    ) -> Result<FuncId, CodegenError> {
        let module = self.code.0.as_mut().expect("module present until drop");
        module.clear_context(&mut self.ctx);
        let ptr = module.target_config().pointer_type();
        let sig = &mut self.ctx.func.signature;
        match abi {
            Abi::Kernel => sig.params.extend([AbiParam::new(ptr); 5]),
            Abi::Sgd => {
                sig.params.extend([AbiParam::new(ptr); 6]);
                sig.params.extend([AbiParam::new(types::F64); 2]);
                sig.returns.push(AbiParam::new(ptr));
            }
        }
        let id = module
            .declare_function(name, Linkage::Local, &self.ctx.func.signature)
            .map_err(cranelift)?;
        let builder = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
        translate(Translator::new(builder, module, &mut self.hosts, sched))
            .map_err(|e| cranelift(*e))?;
        self.ctx.set_disasm(self.inspect);
        module
            .define_function(id, &mut self.ctx)
            .map_err(cranelift)?;
        if self.inspect {
            self.listings
                .push(disasm::listing(module, &self.ctx, name.to_owned()));
        }
        Ok(id)
    }

    /// Finalizes every function defined: their code memory, from which
    /// [`Code::address`] gives each one's address, and their listings
    /// (empty unless inspecting).
    pub(super) fn finish(mut self) -> Result<(Code, Vec<Listing>), CodegenError> {
        let module = self.code.0.as_mut().expect("module present until drop");
        module.finalize_definitions().map_err(cranelift)?;
        Ok((self.code, self.listings))
    }
}
