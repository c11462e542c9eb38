//! The one place where Cranelift modules are made, filled and finalized
//! (as cranelift-jit-demo's `JIT`): [`JitModule`] owns a module with the
//! contexts it reuses for each function; [`Code`] owns the finalized code
//! memory and frees it when dropped.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use cranelift_codegen::ir::{types, AbiParam};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Linkage, Module, ModuleError};

use super::disasm::{self, Listing};
use super::emit::{Hosts, Translator};
use super::{host, CodegenError, KernelFn, LoopFn, SgdFn};
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
    /// ([`KernelFn`]) or one loop over a range of rows ([`LoopFn`]).
    Kernel,
    /// Six pointer-sized arguments, two `f64`, a pointer-sized result: the
    /// SGD loop ([`SgdFn`]).
    Sgd,
}

/// The function pointer type of a compiled function: its signature is
/// exactly the one its [`Abi`] declares, in the platform's C calling
/// convention. Implemented for these three types only; [`Code::function`]
/// relies on it.
pub(super) trait NativeFn: Copy {
    /// The signature [`JitModule::define`] declares for the function.
    const ABI: Abi;
}

impl NativeFn for KernelFn {
    const ABI: Abi = Abi::Kernel;
}

impl NativeFn for LoopFn {
    const ABI: Abi = Abi::Kernel;
}

impl NativeFn for SgdFn {
    const ABI: Abi = Abi::Sgd;
}

/// A function defined by [`JitModule::define`] to be called as an `F`, in
/// the module numbered `module`.
pub(super) struct Defined<F> {
    id: FuncId,
    module: u64,
    native: PhantomData<F>,
}

/// Code memory of finalized functions, freed when dropped. The mutex only
/// makes it `Sync` (a `JITModule` is not), so that kernels can be shared by
/// threads: it is never locked, the code being reached only through the
/// function pointers taken by [`Code::function`].
pub(super) struct Code {
    module: Mutex<Option<JITModule>>,
    /// The number of this module, unique in the process: the functions
    /// defined in it carry it.
    number: u64,
}

impl Code {
    fn module(&mut self) -> &mut JITModule {
        self.module
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .expect("module present until drop")
    }

    /// The finalized function `f` of this module as the function pointer
    /// it was defined as; valid while `self` lives (whoever keeps the
    /// pointer keeps `self` with it).
    pub(super) fn function<F: NativeFn>(&mut self, f: Defined<F>) -> F {
        const { assert!(std::mem::size_of::<F>() == std::mem::size_of::<*const u8>()) };
        assert_eq!(f.module, self.number, "a function of another module");
        let p = self.module().get_finalized_function(f.id);
        // SAFETY: `p` is the finalized code (`JitModule::finish` returned
        // `self` only after finalizing it) of the function `f.id` of this
        // module (checked above), which `JitModule::define` declared with
        // the signature of `F::ABI`; `F` is a function pointer type with
        // exactly that signature (`NativeFn`), of the size of `p` (checked
        // at compile time above). The code stays valid until `self` is
        // dropped.
        unsafe { std::mem::transmute_copy::<*const u8, F>(&p) }
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        let module = self
            .module
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(module) = module.take() {
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
        /// The next module's number.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Ok(JitModule {
            code: Code {
                module: Mutex::new(Some(module)),
                number: NEXT.fetch_add(1, Ordering::Relaxed),
            },
            ctx,
            fctx: Box::new(FunctionBuilderContext::new()),
            hosts: Hosts::default(),
            inspect,
            listings: Vec::new(),
        })
    }

    /// Declares a local function `name` to be called as an `F` and defines
    /// it: `translate` emits its body from `sched` (one of `Translator`'s
    /// `translate*` methods, for `F`'s signature).
    pub(super) fn define<F: NativeFn>(
        &mut self,
        name: &str,
        sched: &Schedule,
        translate: impl FnOnce(Translator<'_, '_>) -> Result<(), Box<ModuleError>>,
    ) -> Result<Defined<F>, CodegenError> {
        let number = self.code.number;
        let module = self.code.module();
        module.clear_context(&mut self.ctx);
        let ptr = module.target_config().pointer_type();
        let sig = &mut self.ctx.func.signature;
        match F::ABI {
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
        Ok(Defined {
            id,
            module: number,
            native: PhantomData,
        })
    }

    /// Finalizes every function defined: their code memory, from which
    /// [`Code::function`] gives each one, and their listings (empty unless
    /// inspecting).
    pub(super) fn finish(mut self) -> Result<(Code, Vec<Listing>), CodegenError> {
        self.code
            .module()
            .finalize_definitions()
            .map_err(cranelift)?;
        Ok((self.code, self.listings))
    }
}
