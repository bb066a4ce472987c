/* version.h: the fmnist version, recorded in every model file. */
#ifndef FMNIST_VERSION_H
#define FMNIST_VERSION_H
#define FMNIST_VERSION "0.1.0"
#endif
