// jit.cpp — nnc's in-process JIT (jit.h): Clang's driver turns the C flags into a
// compiler invocation, Clang compiles the generated C from memory (an in-memory
// file system laid over the real one, so nnrt.h and the C library's headers are
// found as usual) to an LLVM module, LLVM compiles it to an object for this
// machine, and ORC's LLJIT links that object against libnnrt.so and the process
// and calls main(). Built only where LLVM and Clang are found (Makefile: JIT).
#include "jit.h"

#include <clang/Basic/Diagnostic.h>
#include <clang/Basic/DiagnosticOptions.h>
#include <clang/Basic/Version.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Driver/Compilation.h>
#include <clang/Driver/Driver.h>
#include <clang/Driver/Job.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/CompilerInvocation.h>
#include <clang/Frontend/TextDiagnosticPrinter.h>
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Host.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/VirtualFileSystem.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#ifndef NNC_CLANG_BIN
#define NNC_CLANG_BIN "clang" // the driver finds Clang's own headers from this path
#endif

namespace {

// The in-memory directory that holds model.c and its header.
const char *const jit_dir = "/nnc-jit-source";

void set_error(char *err, size_t errlen, const std::string &msg) {
    std::snprintf(err, errlen, "%s", msg.c_str());
}

// Clang's messages, written into a string.
struct diagnostics {
    std::string text;
    llvm::raw_string_ostream os{text};
    llvm::IntrusiveRefCntPtr<clang::DiagnosticOptions> opts{new clang::DiagnosticOptions()};
    clang::TextDiagnosticPrinter *printer = new clang::TextDiagnosticPrinter(os, &*opts);
    clang::DiagnosticsEngine engine{new clang::DiagnosticIDs(), &*opts, printer};
};

// The real file system with model.c and its header added under jit_dir.
llvm::IntrusiveRefCntPtr<llvm::vfs::FileSystem> source_files(const nnc_jit_source *src) {
    llvm::IntrusiveRefCntPtr<llvm::vfs::InMemoryFileSystem> mem(new llvm::vfs::InMemoryFileSystem());
    std::string dir = jit_dir;
    mem->addFile(dir + "/model.c", 0, llvm::MemoryBuffer::getMemBuffer(llvm::StringRef(src->code, src->code_len)));
    mem->addFile(dir + "/" + src->header_name, 0,
                 llvm::MemoryBuffer::getMemBuffer(llvm::StringRef(src->header, src->header_len)));
    llvm::IntrusiveRefCntPtr<llvm::vfs::OverlayFileSystem> fs(
        new llvm::vfs::OverlayFileSystem(llvm::vfs::getRealFileSystem()));
    fs->pushOverlay(mem);
    return fs;
}

// The driver's command line: clang -c FLAGS -I INCLUDE model.c.
std::vector<std::string> driver_words(const nnc_jit_source *src) {
    std::vector<std::string> w = {NNC_CLANG_BIN, "-c"};
    std::string flags = src->flags;
    for (size_t at = 0; at < flags.size();) {
        size_t end = flags.find(' ', at);
        if (end == std::string::npos) end = flags.size();
        if (end > at) w.push_back(flags.substr(at, end - at));
        at = end + 1;
    }
    w.push_back(std::string("-I") + src->include_dir);
    w.push_back(std::string(jit_dir) + "/model.c");
    return w;
}

// The compiler invocation the driver makes of the command line (its one cc1 job).
std::shared_ptr<clang::CompilerInvocation> invocation(const nnc_jit_source *src, diagnostics &d,
                                                      llvm::IntrusiveRefCntPtr<llvm::vfs::FileSystem> fs) {
    clang::driver::Driver drv(NNC_CLANG_BIN, llvm::sys::getProcessTriple(), d.engine, "nnc jit", fs);
    drv.setCheckInputsExist(false);
    std::vector<std::string> words = driver_words(src);
    std::vector<const char *> argv;
    for (const std::string &s : words) argv.push_back(s.c_str());
    std::unique_ptr<clang::driver::Compilation> comp(drv.BuildCompilation(argv));
    if (!comp || d.engine.hasErrorOccurred() || comp->getJobs().size() != 1) return nullptr;
    const llvm::opt::ArgStringList &args = comp->getJobs().begin()->getArguments();
    std::vector<const char *> cc1(args.begin(), args.end());
    if (!cc1.empty() && !std::strcmp(cc1[0], "-cc1")) cc1.erase(cc1.begin());
    auto inv = std::make_shared<clang::CompilerInvocation>();
    if (!clang::CompilerInvocation::CreateFromArgs(*inv, cc1, d.engine)) return nullptr;
    inv->getFrontendOpts().DisableFree = false;
    return inv;
}

// model.c compiled by Clang to an LLVM module in ctx; nullptr with d.text on failure.
std::unique_ptr<llvm::Module> to_module(const nnc_jit_source *src, llvm::LLVMContext &ctx, diagnostics &d) {
    llvm::IntrusiveRefCntPtr<llvm::vfs::FileSystem> fs = source_files(src);
    std::shared_ptr<clang::CompilerInvocation> inv = invocation(src, d, fs);
    if (!inv) return nullptr;
    clang::CompilerInstance ci;
    ci.setInvocation(inv);
    ci.createDiagnostics(new clang::TextDiagnosticPrinter(d.os, &*d.opts), true);
    ci.createFileManager(fs);
    clang::EmitLLVMOnlyAction act(&ctx);
    if (!ci.ExecuteAction(act)) return nullptr;
    return act.takeModule();
}

void init_llvm() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
}

// The module compiled by LLVM to an object for this machine.
llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> to_object(llvm::Module &m) {
    auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!jtmb) return jtmb.takeError();
    auto tm = jtmb->createTargetMachine();
    if (!tm) return tm.takeError();
    m.setDataLayout((*tm)->createDataLayout());
    llvm::orc::SimpleCompiler compile(**tm);
    return compile(m);
}

// An LLJIT that resolves symbols in runtime_so first, then in the process.
llvm::Expected<std::unique_ptr<llvm::orc::LLJIT>> make_jit(const char *runtime_so) {
    auto jit = llvm::orc::LLJITBuilder().create();
    if (!jit) return jit.takeError();
    llvm::orc::JITDylib &jd = (*jit)->getMainJITDylib();
    char prefix = (*jit)->getDataLayout().getGlobalPrefix();
    auto rt = llvm::orc::DynamicLibrarySearchGenerator::Load(runtime_so, prefix);
    if (!rt) return rt.takeError();
    jd.addGenerator(std::move(*rt));
    auto self = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(prefix);
    if (!self) return self.takeError();
    jd.addGenerator(std::move(*self));
    return jit;
}

} // namespace

extern "C" const char *nnc_jit_version(void) {
    static const std::string v = "clang " CLANG_VERSION_STRING " " + llvm::sys::getProcessTriple() + " " +
                                 llvm::sys::getHostCPUName().str();
    return v.c_str();
}

extern "C" int nnc_jit_compile(const nnc_jit_source *src, void **obj, size_t *obj_len, char *err, size_t errlen) {
    init_llvm();
    llvm::LLVMContext ctx;
    diagnostics d;
    std::unique_ptr<llvm::Module> m = to_module(src, ctx, d);
    if (!m) return set_error(err, errlen, "the JIT's C compiler failed on the generated code:\n" + d.os.str()), 1;
    auto o = to_object(*m);
    if (!o) return set_error(err, errlen, "the JIT cannot compile the module: " + llvm::toString(o.takeError())), 1;
    *obj_len = (*o)->getBufferSize();
    *obj = std::malloc(*obj_len ? *obj_len : 1);
    if (!*obj) return set_error(err, errlen, "out of memory"), 1;
    std::memcpy(*obj, (*o)->getBufferStart(), *obj_len);
    return 0;
}

extern "C" int nnc_jit_run(const void *obj, size_t obj_len, const char *runtime_so, int argc, char **argv, int *status,
                           char *err, size_t errlen) {
    init_llvm();
    auto jit = make_jit(runtime_so);
    if (!jit) return set_error(err, errlen, "the JIT cannot start: " + llvm::toString(jit.takeError())), 1;
    llvm::StringRef bytes(static_cast<const char *>(obj), obj_len);
    if (auto e = (*jit)->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(bytes, "model.o")))
        return set_error(err, errlen, "the JIT cannot load the object: " + llvm::toString(std::move(e))), 1;
    auto sym = (*jit)->lookup("main");
    if (!sym) return set_error(err, errlen, "the JIT cannot link the program: " + llvm::toString(sym.takeError())), 1;
    auto main_fn = reinterpret_cast<int (*)(int, char **)>(static_cast<uintptr_t>(sym->getAddress()));
    *status = main_fn(argc, argv);
    return 0;
}
