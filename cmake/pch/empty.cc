// The translation unit that carries one of cmake/metastack.cmake's precompiled headers.
