/* version.h: the fmnist version, recorded in every model file. */
#ifndef FMNIST_VERSION_H
#define FMNIST_VERSION_H
#define FMNIST_VERSION "0.1.0"
/* The date of this version, for the man page. */
#define FMNIST_DATE "2026-11-29"
#endif
